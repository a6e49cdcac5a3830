//! The small types generated builders are made of: an option not given yet ([`Unset`]), a token
//! ([`Tok`]), a token with its value ([`Tokened`]), a group of parts given as one option
//! ([`Block`]), a repeated token ([`EachTok`]), and the reply states of builders whose options
//! change the reply ([`Base`], [`L1`], [`L2`]). They show in builder types
//! (`Set<&str, &str, Tok, Unset, ...>`); code using the builders does not name them.
//! Hand-written and shared, so generated code stays small.

use crate::convert::{ArgWriter, FromValkey, ToValkeyArgs};
use std::marker::PhantomData;

/// An option that was not given: writes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unset;

/// Marks that an optional group was given (its nested options become available). Writes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Present;

/// A token alone (`NX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tok(pub &'static str);

/// A token followed by its value (`EX 10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tokened<T>(pub &'static str, pub T);

/// A group of parts given as one option (`LIMIT offset count`: `Block((Tok("LIMIT"), 0, 10))`):
/// written as its tuple is; the wrapper marks the group as one option that was given (for
/// [`Filled`], [`Combinable`]), which a bare tuple could not without every tuple being one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block<T>(pub T);

/// A repeated argument whose token is written before each element (`GET a GET b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EachTok<I>(pub &'static str, pub I);

impl ToValkeyArgs for Unset {
    #[inline]
    fn num_args(&self) -> usize {
        0
    }
    #[inline]
    fn write_args(&self, _: &mut ArgWriter<'_>) {}
}

impl ToValkeyArgs for Tok {
    #[inline]
    fn num_args(&self) -> usize {
        1
    }
    #[inline]
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        out.write_bytes(self.0.as_bytes())
    }
}

impl<T: ToValkeyArgs> ToValkeyArgs for Tokened<T> {
    #[inline]
    fn num_args(&self) -> usize {
        1 + self.1.num_args()
    }
    #[inline]
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        out.write_bytes(self.0.as_bytes());
        self.1.write_args(out)
    }
}

/// What a repeated argument whose token is written before each element takes (SORT's
/// `GET pattern [GET pattern ...]`): one value, or a collection of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither one argument nor a collection of them",
    label = "expected one value (`\"pat\"`) or a collection (`[\"a\", \"b\"]`)"
)]
pub trait EachArg {
    /// The arguments written, tokens included.
    fn num_each(&self) -> usize;
    /// Writes `token` before each element.
    fn write_each(&self, token: &'static str, out: &mut ArgWriter<'_>);
}

impl<T: crate::ToValkeyArg + ?Sized> EachArg for T {
    fn num_each(&self) -> usize {
        2
    }
    fn write_each(&self, token: &'static str, out: &mut ArgWriter<'_>) {
        out.write_bytes(token.as_bytes());
        out.write(self);
    }
}
macro_rules! each_seq {
    ($([$($gen:tt)*] $ty:ty;)*) => {$(
        impl<$($gen)*> EachArg for $ty {
            fn num_each(&self) -> usize {
                self.iter().map(|x| 1 + x.num_args()).sum()
            }
            fn write_each(&self, token: &'static str, out: &mut ArgWriter<'_>) {
                for x in self.iter() {
                    out.write_bytes(token.as_bytes());
                    x.write_args(out);
                }
            }
        }
    )*};
}
each_seq! {
    [E: ToValkeyArgs] [E];
    [E: ToValkeyArgs] Vec<E>;
    [E: ToValkeyArgs, const N: usize] [E; N];
    [E: ToValkeyArgs] std::collections::VecDeque<E>;
    [E: ToValkeyArgs] &[E];
    [E: ToValkeyArgs] &Vec<E>;
    [E: ToValkeyArgs, const N: usize] &[E; N];
}

impl<T: ToValkeyArgs> ToValkeyArgs for Block<T> {
    #[inline]
    fn num_args(&self) -> usize {
        self.0.num_args()
    }
    #[inline]
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        self.0.write_args(out)
    }
}

impl<I: EachArg> ToValkeyArgs for EachTok<I> {
    fn num_args(&self) -> usize {
        self.1.num_each()
    }
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        self.1.write_each(self.0, out)
    }
}

/// The shape of a number in a repeated group (ZADD's score, GEOADD's longitude): any Rust number.
#[derive(Clone, Copy, Debug)]
pub struct Number;
/// The shape of an integer in a repeated group: any Rust integer.
#[derive(Clone, Copy, Debug)]
pub struct Integer;
/// The shape of any one argument in a repeated group (a member, a field, a key).
#[derive(Clone, Copy, Debug)]
pub struct Arg;

/// A value of shape `S` ([`Number`], [`Integer`], [`Arg`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `{S}` here",
    label = "expected a `{S}` in this place of the tuple",
    note = "the tuple's members go in the order the command writes them (ZADD: score, then member)"
)]
pub trait Is<S> {}
impl<T: crate::ToValkeyArg + ?Sized> Is<Arg> for T {}
macro_rules! shapes {
    ($shape:ident: $($t:ty),*) => {$(
        impl Is<$shape> for $t {}
        impl Is<$shape> for &$t {}
    )*};
}
shapes!(Number: f64, f32, i8, i16, i32, i64, isize, u16, u32, u64, usize);
shapes!(Integer: i8, i16, i32, i64, isize, u16, u32, u64, usize);

/// One element of a repeated group of shape `S`: a tuple whose members have the shapes of `S`
/// (`(f64, &str)` for ZADD's `(Number, Arg)`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not one `{S}` element",
    label = "expected one element of shape `{S}` (a tuple in the command's order, or one value)"
)]
pub trait Element<S> {}
macro_rules! element {
    ($($s:ident $t:ident),+) => {
        impl<$($s, $t: Is<$s>),+> Element<($($s,)+)> for ($($t,)+) {}
        impl<$($s, $t: Is<$s>),+> Element<($($s,)+)> for &($($t,)+) {}
    };
}
element!(SA A, SB B);
element!(SA A, SB B, SC C);
element!(SA A, SB B, SC C, SD D);

/// What a repeated group of shape `S` takes (ZADD's `score member [score member ...]` is
/// `(Number, Arg)`): one tuple of that shape, a collection of them, a map (key and value in the
/// group's order), or a `#[derive(ToValkeyArgs)]` struct for `(Arg, Arg)` (field/value pairs).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not give elements of shape `{S}`",
    label = "expected `{S}` elements: one, or a collection of them",
    note = "a group's element is a tuple in the order the command writes it: ZADD takes \
            `(score, member)`, HSET `(field, value)`, GEOADD `(longitude, latitude, member)`; \
            counted values (EVAL's keys) are single values, each counted once"
)]
pub trait Elements<S> {}
macro_rules! one_element {
    ($($t:ident),+) => {
        impl<S, $($t),+> Elements<S> for ($($t,)+) where ($($t,)+): Element<S> {}
    };
}
// References to anything that gives tuples.
macro_rules! by_ref {
    ($($s:ident),+) => {
        impl<$($s,)+ T: Elements<($($s,)+)> + ?Sized> Elements<($($s,)+)> for &T {}
    };
}
by_ref!(SA, SB);
by_ref!(SA, SB, SC);
by_ref!(SA, SB, SC, SD);
// Single values counted one by one (EVAL's keys, counted into `numkeys`): one value, or a
// collection of them; not a map, whose entries are two arguments each.
impl<T: crate::ToValkeyArg + ?Sized> Element<Arg> for T {}
impl<T: crate::ToValkeyArg + ?Sized> Elements<Arg> for T {}
// Collections of single values by reference (for tuples, `&T` is covered above).
macro_rules! single_refs {
    ($($shape:ident),*) => {$(
        impl<E: Element<$shape>> Elements<$shape> for &[E] {}
        impl<E: Element<$shape>> Elements<$shape> for &Vec<E> {}
        impl<E: Element<$shape>, const N: usize> Elements<$shape> for &[E; N] {}
    )*};
}
single_refs!(Arg, Number, Integer);
// Repeated numbers (ZUNION's WEIGHTS, CLUSTER ADDSLOTS): one number or a collection of them,
// not text.
macro_rules! number_elements {
    ($shape:ident: $($t:ty),*) => {$(
        impl Element<$shape> for $t {}
        impl Element<$shape> for &$t {}
        impl Elements<$shape> for $t {}
        impl Elements<$shape> for &$t {}
    )*};
}
number_elements!(Number: f64, f32, i8, i16, i32, i64, isize, u16, u32, u64, usize);
number_elements!(Integer: i8, i16, i32, i64, isize, u16, u32, u64, usize);
one_element!(A, B);
one_element!(A, B, C);
one_element!(A, B, C, D);
impl<S, E: Element<S>> Elements<S> for [E] {}
impl<S, E: Element<S>> Elements<S> for Vec<E> {}
impl<S, E: Element<S>, const N: usize> Elements<S> for [E; N] {}
impl<S, E: Element<S>> Elements<S> for std::collections::VecDeque<E> {}
impl<SK, SV, K: Is<SK>, V: Is<SV>, H> Elements<(SK, SV)> for std::collections::HashMap<K, V, H> {}
impl<SK, SV, K: Is<SK>, V: Is<SV>> Elements<(SK, SV)> for std::collections::BTreeMap<K, V> {}

/// `(first, second)` pairs written column by column: every first, then every second (XREAD's
/// `STREAMS key [key ...] id [id ...]` from `[(key, id), ...]`), so that the two lists cannot
/// differ in length. One pair, a collection of pairs, or a map.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a list of `(first, second)` pairs",
    label = "expected pairs such as `[(\"stream\", \"0\")]` (or one pair, or a map)",
    note = "XREAD/XREADGROUP take `(key, id)` pairs: the builder writes the keys, then the ids"
)]
pub trait Pairs {
    /// The number of pairs.
    fn pairs(&self) -> usize;
    /// Writes the first (`second == false`) or second member of every pair.
    fn write_column(&self, second: bool, out: &mut ArgWriter<'_>);
}

impl<A: crate::ToValkeyArg, B: crate::ToValkeyArg> Pairs for (A, B) {
    fn pairs(&self) -> usize {
        1
    }
    fn write_column(&self, second: bool, out: &mut ArgWriter<'_>) {
        if second {
            out.write(&self.1)
        } else {
            out.write(&self.0)
        }
    }
}
impl<A: crate::ToValkeyArg, B: crate::ToValkeyArg> Pairs for [(A, B)] {
    fn pairs(&self) -> usize {
        self.len()
    }
    fn write_column(&self, second: bool, out: &mut ArgWriter<'_>) {
        for p in self {
            p.write_column(second, out);
        }
    }
}
impl<A: crate::ToValkeyArg, B: crate::ToValkeyArg, const N: usize> Pairs for [(A, B); N] {
    fn pairs(&self) -> usize {
        N
    }
    fn write_column(&self, second: bool, out: &mut ArgWriter<'_>) {
        self[..].write_column(second, out)
    }
}
impl<A: crate::ToValkeyArg, B: crate::ToValkeyArg> Pairs for Vec<(A, B)> {
    fn pairs(&self) -> usize {
        self.len()
    }
    fn write_column(&self, second: bool, out: &mut ArgWriter<'_>) {
        self[..].write_column(second, out)
    }
}
macro_rules! map_pairs {
    ($([$($gen:tt)*] $ty:ty;)*) => {$(
        impl<$($gen)*> Pairs for $ty {
            fn pairs(&self) -> usize {
                self.len()
            }
            fn write_column(&self, second: bool, out: &mut ArgWriter<'_>) {
                for (k, v) in self.iter() {
                    if second { out.write(v) } else { out.write(k) }
                }
            }
        }
    )*};
}
map_pairs! {
    [K: crate::ToValkeyArg, V: crate::ToValkeyArg, S] std::collections::HashMap<K, V, S>;
    [K: crate::ToValkeyArg, V: crate::ToValkeyArg] std::collections::BTreeMap<K, V>;
}
impl<T: Pairs + ?Sized> Pairs for &T {
    fn pairs(&self) -> usize {
        (**self).pairs()
    }
    fn write_column(&self, second: bool, out: &mut ArgWriter<'_>) {
        (**self).write_column(second, out)
    }
}

/// Writes [`Pairs`] column by column.
#[derive(Clone, Copy, Debug)]
pub struct Unzip<T>(pub T);

impl<T: Pairs> ToValkeyArgs for Unzip<T> {
    #[inline]
    fn num_args(&self) -> usize {
        2 * self.0.pairs()
    }
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        self.0.write_column(false, out);
        self.0.write_column(true, out);
    }
}

/// An option slot still empty: only [`Unset`]. Each option method needs its slot `Unfilled`.
#[diagnostic::on_unimplemented(
    message = "this option was given already (or another choice of its group was)",
    label = "given a second time",
    note = "each option can be given once, and of a group such as `NX | XX` only one choice; \
            to decide at run time, use the option's `_opt`/`_if` form"
)]
pub trait Unfilled {}
impl Unfilled for Unset {}

/// An optional group that was given ([`Present`]): its nested options need it.
#[diagnostic::on_unimplemented(
    message = "this option belongs to a group that was not given",
    label = "give the group's own option first",
    note = "e.g. GEOSEARCH's `any()` refines `count(n)`: call `count(n)` before `any()`"
)]
pub trait Given {}
impl Given for Present {}

/// An option the server refuses together with another one the spec keeps in a different group
/// (ZADD's `NX` with `GT`/`LT`): written as its value, but not [`Combinable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sole<T>(pub T);

impl<T: ToValkeyArgs> ToValkeyArgs for Sole<T> {
    #[inline]
    fn num_args(&self) -> usize {
        self.0.num_args()
    }
    #[inline]
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        self.0.write_args(out)
    }
}

/// An option state that another option may be added to: anything but a [`Sole`] option.
#[diagnostic::on_unimplemented(
    message = "this option cannot be combined with one given before",
    label = "the server refuses these two options together",
    note = "e.g. ZADD's and EXPIRE's `nx()` with `gt()` or `lt()`, GEOSEARCH's `bypolygon(..)` \
            with `frommember(..)`: only one of them can be given"
)]
pub trait Combinable {}
impl Combinable for Unset {}
impl Combinable for Tok {}
impl<T> Combinable for Tokened<T> {}
impl<I> Combinable for EachTok<I> {}
impl<T> Combinable for Block<T> {}
impl<T: Combinable> Combinable for Option<T> {}

/// An option slot that holds a given option (not [`Unset`], not a run-time `Option`): what a
/// required choice given by a method (GEOSEARCH's `byradius`) and an option that needs another
/// one before it (`byradius` needs `frommember` or `fromlonlat`) ask for.
#[diagnostic::on_unimplemented(
    message = "an option this needs was not given before it (or only maybe, through an \
               `_opt`/`_if` form)",
    label = "give the option it needs first",
    note = "e.g. GEOSEARCH's `byradius`/`bybox` search around a member or a point: \
            `frommember(..)` or `fromlonlat(..)` comes first (the command's order)"
)]
pub trait Filled {}
impl Filled for Tok {}
impl<T> Filled for Tokened<T> {}
impl<T> Filled for Block<T> {}
impl<I> Filled for EachTok<I> {}
impl<T> Filled for Sole<T> {}

/// A required choice given by a method (GEOSEARCH's area: `byradius`, `bybox` or
/// `bypolygon`): a builder without it is not a command yet.
#[diagnostic::on_unimplemented(
    message = "this command is missing a required choice",
    label = "not a complete command yet",
    note = "GEOSEARCH and GEOSEARCHSTORE need their area: `byradius(..)`, `bybox(..)` or \
            `bypolygon(..)`"
)]
pub trait Chosen {}
impl Chosen for Tok {}
impl<T> Chosen for Tokened<T> {}
impl<T> Chosen for Block<T> {}
impl<I> Chosen for EachTok<I> {}
impl<T> Chosen for Sole<T> {}

/// Values given one per element of `Self` (ZUNION's `WEIGHTS`, one per key): arrays must have
/// the same length; collections whose length is known only at run time are compared before
/// sending.
#[diagnostic::on_unimplemented(
    message = "`{W}` does not give one value per element of `{Self}`",
    label = "expected as many values as there are keys",
    note = "WEIGHTS takes one weight per key: give arrays of the same length (or collections, \
            whose lengths are compared before sending)"
)]
pub trait SameLength<W: ?Sized> {}
// Arrays: their lengths are known when compiling.
impl<A, B, const N: usize> SameLength<[B; N]> for [A; N] {}
impl<A, B, const N: usize> SameLength<&[B; N]> for [A; N] {}
// Collections: compared before sending.
macro_rules! same_length_run_time {
    ($($ty:ty),*) => {$(
        impl<A, B, const N: usize> SameLength<$ty> for [A; N] {}
    )*};
}
same_length_run_time!(Vec<B>, &Vec<B>, &[B], std::collections::VecDeque<B>);
impl<A, W: ?Sized> SameLength<W> for [A] {}
impl<A, W: ?Sized> SameLength<W> for Vec<A> {}
impl<A, W: ?Sized> SameLength<W> for std::collections::VecDeque<A> {}
// One key: compared before sending too.
impl<W: ?Sized> SameLength<W> for str {}
impl<W: ?Sized> SameLength<W> for String {}
impl<W: ?Sized> SameLength<W> for bytes::Bytes {}
impl<T: SameLength<W> + ?Sized, W: ?Sized> SameLength<W> for &T {}

/// Refuses, before sending, an option whose values go one per element of another argument
/// (`WEIGHTS`, one per key) when their numbers differ. `option_args` is what the option writes
/// (its `token` included; 0: not given), `counted` the other argument's count.
pub fn same_length(
    meta: &super::CommandMeta,
    token: &str,
    option_args: usize,
    counted: usize,
    what: &str,
) -> crate::Result<()> {
    if option_args == 0 {
        return Ok(());
    }
    let given = option_args - usize::from(!token.is_empty());
    if given == counted {
        return Ok(());
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    Err(crate::Error::new(
        crate::ErrorKind::InvalidInput,
        format!(
            "{} {token}: {given} value{} for {counted} {what}{} (one per {what} is needed); \
             nothing was sent",
            meta.name,
            plural(given),
            plural(counted),
        ),
    ))
}

/// Exactly one element of a repeated group of shape `S` (ZADD `INCR` takes one `score member`).
#[diagnostic::on_unimplemented(
    message = "this option needs exactly one `{S}` element, and `{Self}` may hold several",
    label = "give a single tuple (or a one-element array) to the constructor",
    note = "ZADD with `incr()` takes one `(score, member)` pair"
)]
pub trait OneElement<S> {}
impl<S, A, B> OneElement<S> for (A, B) where (A, B): Element<S> {}
impl<S, A, B, C> OneElement<S> for (A, B, C) where (A, B, C): Element<S> {}
impl<S, E: Element<S>> OneElement<S> for [E; 1] {}
impl<S, T: OneElement<S>> OneElement<S> for &T {}

/// A number of seconds: an `i64`, or a `Duration` (whole seconds; the fraction is dropped).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a number of seconds",
    label = "expected an `i64` or a `std::time::Duration`"
)]
pub trait IntoSeconds {
    /// The number of seconds.
    fn into_seconds(self) -> i64;
}
/// A number of milliseconds: an `i64`, or a `Duration` (whole milliseconds).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a number of milliseconds",
    label = "expected an `i64` or a `std::time::Duration`"
)]
pub trait IntoMillis {
    /// The number of milliseconds.
    fn into_millis(self) -> i64;
}
/// A Unix time in seconds: an `i64`, or a `SystemTime`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Unix time in seconds",
    label = "expected an `i64` or a `std::time::SystemTime`"
)]
pub trait IntoUnixSeconds {
    /// Seconds since 1970-01-01 00:00:00 UTC.
    fn into_unix_seconds(self) -> i64;
}
/// A Unix time in milliseconds: an `i64`, or a `SystemTime`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Unix time in milliseconds",
    label = "expected an `i64` or a `std::time::SystemTime`"
)]
pub trait IntoUnixMillis {
    /// Milliseconds since 1970-01-01 00:00:00 UTC.
    fn into_unix_millis(self) -> i64;
}
/// A number of seconds with a fraction (blocking timeouts): an `f64`, an `i64`, or a `Duration`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a timeout in seconds",
    label = "expected an `f64`, an `i64` or a `std::time::Duration`"
)]
pub trait IntoSecondsF64 {
    /// The number of seconds.
    fn into_seconds_f64(self) -> f64;
}

fn saturating_i64(v: u128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn since_epoch(t: std::time::SystemTime, per_sec: u128) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => saturating_i64(d.as_nanos() * per_sec / 1_000_000_000),
        Err(before) => -saturating_i64(before.duration().as_nanos() * per_sec / 1_000_000_000),
    }
}

macro_rules! int_times {
    ($($t:ty),*) => {$(
        impl IntoSeconds for $t {
            #[inline]
            fn into_seconds(self) -> i64 {
                self
            }
        }
        impl IntoMillis for $t {
            #[inline]
            fn into_millis(self) -> i64 {
                self
            }
        }
        impl IntoUnixSeconds for $t {
            #[inline]
            fn into_unix_seconds(self) -> i64 {
                self
            }
        }
        impl IntoUnixMillis for $t {
            #[inline]
            fn into_unix_millis(self) -> i64 {
                self
            }
        }
        impl IntoSecondsF64 for $t {
            #[inline]
            fn into_seconds_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
// Only `i64` among the integers: then an integer literal (`pxat(1_700_000_000_000)`) is an
// `i64`, as it was when these arguments were plain `i64`s (with more integer types, a literal
// would fall back to `i32` and overflow).
int_times!(i64);

impl IntoSecondsF64 for f64 {
    #[inline]
    fn into_seconds_f64(self) -> f64 {
        self
    }
}
impl IntoSeconds for std::time::Duration {
    #[inline]
    fn into_seconds(self) -> i64 {
        saturating_i64(u128::from(self.as_secs()))
    }
}
impl IntoMillis for std::time::Duration {
    #[inline]
    fn into_millis(self) -> i64 {
        saturating_i64(std::time::Duration::as_millis(&self))
    }
}
impl IntoSecondsF64 for std::time::Duration {
    #[inline]
    fn into_seconds_f64(self) -> f64 {
        self.as_secs_f64()
    }
}
impl IntoUnixSeconds for std::time::SystemTime {
    #[inline]
    fn into_unix_seconds(self) -> i64 {
        since_epoch(self, 1)
    }
}
impl IntoUnixMillis for std::time::SystemTime {
    #[inline]
    fn into_unix_millis(self) -> i64 {
        since_epoch(self, 1000)
    }
}

/// The reply type of a builder whose options can change it: `Base<T>` at first; an option
/// raises it to level 1 or 2 (`L1<U>`, `L2<U>`), and a lower level never overrides a higher one
/// (`SET ... GET` reads the old value whether or not `NX` is also given, in either order).
pub trait Reply {
    /// The type the reply is read into.
    type Output: FromValkey;
}

/// The reply type when no option changed it.
pub struct Base<T>(PhantomData<fn() -> T>);
/// The reply type set by a level-1 option.
pub struct L1<T>(PhantomData<fn() -> T>);
/// The reply type set by a level-2 option.
pub struct L2<T>(PhantomData<fn() -> T>);

// Clone and Copy whatever `T` is (they hold no `T`), so that every builder can be `Clone`.
macro_rules! marker_impls {
    ($($t:ident),*) => {$(
        impl<T> Clone for $t<T> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<T> Copy for $t<T> {}
        impl<T> std::fmt::Debug for $t<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($t))
            }
        }
    )*};
}
marker_impls!(Base, L1, L2);

impl<T: FromValkey> Reply for Base<T> {
    type Output = T;
}
impl<T: FromValkey> Reply for L1<T> {
    type Output = T;
}
impl<T: FromValkey> Reply for L2<T> {
    type Output = T;
}

/// The reply state after an option of level `To` is given.
pub trait Raise<To> {
    /// The new state.
    type Out;
}
impl<T, U> Raise<L1<U>> for Base<T> {
    type Out = L1<U>;
}
impl<T, U> Raise<L1<U>> for L1<T> {
    type Out = L1<U>;
}
impl<T, U> Raise<L1<U>> for L2<T> {
    type Out = L2<T>;
}
impl<T, U> Raise<L2<U>> for Base<T> {
    type Out = L2<U>;
}
impl<T, U> Raise<L2<U>> for L1<T> {
    type Out = L2<U>;
}
impl<T, U> Raise<L2<U>> for L2<T> {
    type Out = L2<U>;
}

/// Writes a count computed from the arguments it counts (`numkeys`).
#[inline]
pub fn write_count(out: &mut ArgWriter<'_>, counted_args: usize, width: usize) {
    out.write(&(counted_args / width.max(1)));
}

/// The newer of two optional versions.
#[inline]
pub const fn newer(a: Option<super::Version>, b: Option<super::Version>) -> Option<super::Version> {
    match (a, b) {
        (Some(x), Some(y)) => {
            let xa = (x.major, x.minor, x.patch);
            let ya = (y.major, y.minor, y.patch);
            if xa.0 > ya.0 || (xa.0 == ya.0 && (xa.1 > ya.1 || (xa.1 == ya.1 && xa.2 >= ya.2))) {
                Some(x)
            } else {
                Some(y)
            }
        }
        (Some(x), None) => Some(x),
        (None, y) => y,
    }
}

/// `v` when it is newer than the command's own version `since`.
#[inline]
pub const fn if_newer(since: super::Version, v: Option<super::Version>) -> Option<super::Version> {
    match newer(Some(since), v) {
        Some(n) if n.major == since.major && n.minor == since.minor && n.patch == since.patch => {
            None
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Version;

    fn encode(p: &impl ToValkeyArgs) -> (usize, Vec<u8>) {
        let mut buf = vec![];
        let mut w = ArgWriter::new(&mut buf);
        p.write_args(&mut w);
        assert_eq!(
            w.written(),
            p.num_args(),
            "num_args disagrees with write_args"
        );
        (p.num_args(), buf)
    }

    #[test]
    fn parts_write_what_they_count() {
        assert_eq!(encode(&Unset), (0, vec![]));
        assert_eq!(encode(&Tok("NX")), (1, b"$2\r\nNX\r\n".to_vec()));
        assert_eq!(
            encode(&Tokened("EX", 10i64)),
            (2, b"$2\r\nEX\r\n$2\r\n10\r\n".to_vec())
        );
        assert_eq!(
            encode(&Block((Tok("LIMIT"), 0i64, 5i64))),
            (3, b"$5\r\nLIMIT\r\n$1\r\n0\r\n$1\r\n5\r\n".to_vec())
        );
        assert_eq!(
            encode(&EachTok("GET", ["a", "b"])),
            (
                4,
                b"$3\r\nGET\r\n$1\r\na\r\n$3\r\nGET\r\n$1\r\nb\r\n".to_vec()
            )
        );
    }

    #[test]
    fn a_token_before_each_element_takes_one_value_or_many() {
        let one = encode(&EachTok("GET", "p"));
        assert_eq!(one, (2, b"$3\r\nGET\r\n$1\r\np\r\n".to_vec()));
        let patterns = vec!["a", "b"];
        assert_eq!(encode(&EachTok("GET", &patterns)).0, 4);
        assert_eq!(encode(&EachTok("GET", &patterns[..])).0, 4);
        assert_eq!(encode(&EachTok("GET", Vec::<&str>::new())).0, 0);
    }

    #[test]
    fn times_convert_to_the_units_the_server_takes() {
        use std::time::{Duration, SystemTime, UNIX_EPOCH};
        assert_eq!(Duration::from_millis(2_999).into_seconds(), 2);
        assert_eq!(IntoMillis::into_millis(Duration::from_micros(1_500)), 1);
        assert_eq!(Duration::from_millis(1_500).into_seconds_f64(), 1.5);
        assert_eq!(7i64.into_seconds(), 7);
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(t.into_unix_seconds(), 1_700_000_000);
        assert_eq!(t.into_unix_millis(), 1_700_000_000_123);
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(before.into_unix_seconds(), -5);
        assert!(SystemTime::now().into_unix_millis() > 1_700_000_000_000);
    }

    #[test]
    fn a_per_key_option_is_compared_with_the_keys_before_sending() {
        let meta = crate::cmd::lookup(b"ZUNION", None).unwrap();
        // Not given: nothing to compare.
        assert!(same_length(meta, "WEIGHTS", 0, 2, "key").is_ok());
        // `WEIGHTS 1 2` for two keys.
        assert!(same_length(meta, "WEIGHTS", 3, 2, "key").is_ok());
        let e = same_length(meta, "WEIGHTS", 2, 2, "key").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(
            e.to_string()
                .contains("ZUNION WEIGHTS: 1 value for 2 keys (one per key is needed)"),
            "{e}"
        );
        // Given empty: the token alone.
        assert!(same_length(meta, "WEIGHTS", 1, 2, "key").is_err());
    }

    #[test]
    fn newer_picks_the_later_version() {
        let a = Some(Version::new(6, 2, 0));
        let b = Some(Version::new(8, 1, 0));
        assert_eq!(newer(a, b), b);
        assert_eq!(newer(b, a), b);
        assert_eq!(newer(None, a), a);
        assert_eq!(newer(a, None), a);
        assert_eq!(newer(None, None), None);
    }
}
