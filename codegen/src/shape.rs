//! The builder's shape, decided from a command's IR and its overlay entry before any Rust is
//! written: which arguments are constructor parameters, which are chained methods, the struct's
//! slots (one field per argument position, in spec order) and their typestate, what is written
//! in which order, and the reply type. `emit` turns a shape into code.
//!
//! Rules: required arguments are constructor parameters (a required oneof is a generated enum);
//! optional ones are methods, each filling one slot that starts `Unset`, so a slot cannot be
//! filled twice and two choices of one optional oneof cannot be combined. An optional block
//! whose nested arguments are themselves optional gets a presence marker: its nested methods
//! exist only once the block was given. The overlay adjusts these rules where the server and the
//! spec disagree: a oneof split into several options (`split`), options refused together
//! (`exclusive`) or needing one given before (`needs`), a required oneof given by methods
//! (`oneof_methods`), a repeated option as long as a repeated argument (`same_length`).
//!
//! A shape holds typed values ([`Ty`], [`Part`], [`ElementShape`], [`TimeConv`]), never Rust
//! source text: `emit` renders them with `quote`.

use crate::ir::{token_signature, Arg, Command, Kind, Version};
use crate::names::{camel, has_words, snake};
use crate::overlay::{uses_t, CommandOverlay};
use std::collections::{BTreeMap, BTreeSet};

/// What a generic parameter must implement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// Exactly one argument (`ToValkeyArg`).
    One,
    /// Any number of arguments (`ToValkeyArgs`).
    Many,
    /// One value or a collection, each element written after the token (`EachArg`).
    Iter,
    /// Any number of arguments given as elements of a repeated group, each a tuple of this
    /// shape (`(Number, Arg)` for ZADD's `score member`): `ToValkeyArgs + Elements<shape>`.
    Elements(ElementShape),
    /// Pairs written column by column (the overlay's `pairs`): `Pairs`.
    Pairs,
    /// A time (the overlay's `times`): an integer or a `Duration`/`SystemTime`, converted by
    /// this conversion when given. Local to the function taking it: the builder stores the
    /// converted number.
    Time(TimeConv),
}

/// The conversion of a time argument (the overlay's `times`) into the unit the server takes:
/// a trait of `cmd::parts` (`IntoSeconds`, ...) and its method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeConv {
    /// Whole seconds (`IntoSeconds`).
    Seconds,
    /// Seconds with a fraction (`IntoSecondsF64`).
    SecondsF64,
    /// Milliseconds (`IntoMillis`).
    Millis,
    /// A Unix time in seconds (`IntoUnixSeconds`).
    UnixSeconds,
    /// A Unix time in milliseconds (`IntoUnixMillis`).
    UnixMillis,
}

impl TimeConv {
    /// The conversion for a unit of the overlay's `times` and the argument's kind.
    pub fn of(unit: &str, kind: &Kind) -> Option<TimeConv> {
        Some(match (unit, kind) {
            ("seconds", Kind::Double) => TimeConv::SecondsF64,
            ("seconds", _) => TimeConv::Seconds,
            ("milliseconds", _) => TimeConv::Millis,
            ("unix-seconds", _) => TimeConv::UnixSeconds,
            ("unix-milliseconds", _) => TimeConv::UnixMillis,
            _ => return None,
        })
    }
    /// The trait's name (`IntoSeconds`).
    pub fn trait_name(self) -> &'static str {
        match self {
            TimeConv::Seconds => "IntoSeconds",
            TimeConv::SecondsF64 => "IntoSecondsF64",
            TimeConv::Millis => "IntoMillis",
            TimeConv::UnixSeconds => "IntoUnixSeconds",
            TimeConv::UnixMillis => "IntoUnixMillis",
        }
    }
    /// The trait's method (`into_seconds`).
    pub fn method(self) -> &'static str {
        match self {
            TimeConv::Seconds => "into_seconds",
            TimeConv::SecondsF64 => "into_seconds_f64",
            TimeConv::Millis => "into_millis",
            TimeConv::UnixSeconds => "into_unix_seconds",
            TimeConv::UnixMillis => "into_unix_millis",
        }
    }
    /// The number it converts to.
    pub fn number(self) -> Ty {
        match self {
            TimeConv::SecondsF64 => Ty::F64,
            _ => Ty::I64,
        }
    }
}

/// What one value of a repeated argument's element must be (`cmd::parts::{Number, Integer,
/// Arg}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementKind {
    /// Any Rust number.
    Number,
    /// Any Rust integer.
    Integer,
    /// Any one argument.
    Arg,
}

/// The element of a repeated argument, which its parameter's bound enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementShape {
    /// One value per element (EVAL's keys, ZUNION's weights).
    One(ElementKind),
    /// A tuple per element, in the command's order (ZADD's `(Number, Arg)`).
    Tuple(Vec<ElementKind>),
}

/// A Rust type in a builder's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// A type parameter (`Key`).
    Param(String),
    /// `i64`.
    I64,
    /// `f64`.
    F64,
    /// `bool`.
    Bool,
    /// A generated enum or struct (`GeoUnit`).
    Named(String),
    /// `Option<T>`.
    Option(Box<Ty>),
}

/// A value a builder stores in a field, as built from its parameters: its expression and its
/// type both follow from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A parameter as given (`key`), of its type.
    Param(String, Ty),
    /// A time parameter converted where it is given (`IntoSeconds::into_seconds(seconds)`).
    Time(String, TimeConv),
    /// A token alone: `Tok("NX")`.
    Tok(String),
    /// A token and its value: `Tokened("EX", seconds)`.
    Tokened(String, Box<Part>),
    /// A token before each element: `EachTok("GET", pattern)`.
    EachTok(String, Box<Part>),
    /// Parts written in order, given as one option: `Block((Tok("LIMIT"), offset, count))`.
    Group(Vec<Part>),
    /// An option the server refuses with another (the overlay's `exclusive`): `Sole(..)`.
    Sole(Box<Part>),
    /// The marker of an optional group that was given: `Present`.
    Present,
    /// Pairs written column by column (the overlay's `pairs`): `Unzip(streams)`.
    Unzip(String, Ty),
    /// The run-time form of an option with a value: the `Option` parameter, turned into the
    /// part when it is `Some` (`seconds.map(|seconds| Tokened("EX", seconds))`).
    OptionOf(String, Box<Part>),
    /// The run-time form of an option without a value: `given.then_some(Tok("NX"))`.
    If(String, Box<Part>),
}

impl Part {
    /// A token and the part, the way the argument writes its token (before the value, before
    /// each element, or not at all).
    fn tokened(arg: &Arg, part: Part) -> Part {
        match &arg.token {
            Some(t) if arg.multiple_token => Part::EachTok(t.clone(), Box::new(part)),
            Some(t) if arg.kind != Kind::PureToken => Part::Tokened(t.clone(), Box::new(part)),
            _ => part,
        }
    }
}

/// A generic parameter introduced for a string-like or repeated argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generic {
    /// Its name.
    pub name: String,
    /// Its bound.
    pub bound: Bound,
}

/// A parameter of the constructor or of a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its Rust type.
    pub ty: Ty,
    /// The argument it gives.
    pub arg_path: String,
}

/// What a struct field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotKind {
    /// Given to the constructor: the value that fills it.
    Fixed(Part),
    /// Optional: a type parameter, `Unset` until a method fills it.
    State(String),
    /// Marks that an optional block was given (`Unset` / `Present`); not written.
    Presence(String),
}

/// One struct field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Field name.
    pub field: String,
    /// What it holds.
    pub kind: SlotKind,
    /// The argument it holds.
    pub arg_path: String,
}

/// One step of `write_args`, after the command name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A token the builder always writes.
    Const(String),
    /// A field.
    Slot(usize),
    /// A count the builder computes: the slot's argument count divided by `width`.
    Count {
        /// The counted slot.
        slot: usize,
        /// Arguments per counted element.
        width: usize,
    },
}

/// A chained method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// Its name.
    pub name: String,
    /// The argument it gives (for docs).
    pub arg_path: String,
    /// Its generic parameters.
    pub generics: Vec<Generic>,
    /// Its parameters.
    pub params: Vec<Param>,
    /// Slots it fills, and with what.
    pub sets: Vec<(usize, Part)>,
    /// Slots that must still be `Unset` (the typestate).
    pub requires_unset: Vec<usize>,
    /// Presence slots that must be `Present` (the enclosing optional block was given).
    pub requires_present: Vec<usize>,
    /// The version that added what it gives, when newer than the command.
    pub since: Option<Version>,
    /// A new reply type: (level, type). Higher levels win over lower ones.
    pub reply: Option<(usize, String)>,
    /// For a builder whose reply is the caller's `T`: the option fixes `T` to this type (the
    /// method exists only where `T` is it, so `T` is inferred from the method).
    pub pins_t: Option<String>,
    /// Parameters whose value (a generated enum or struct) knows the versions its choices need.
    pub since_params: Vec<String>,
    /// Slots whose value must not be an exclusive option (the overlay's `exclusive`).
    pub requires_combinable: Vec<usize>,
    /// Constructor type parameters that must hold exactly one element of this shape (the
    /// overlay's `one_element_with`): (type parameter, shape).
    pub requires_one: Vec<(String, ElementShape)>,
    /// For the run-time form of an option (`ex_opt(Option<i64>)`, `nx_if(bool)`): the method
    /// it is the form of.
    pub run_time_of: Option<RunTimeOf>,
    /// For a choice of a oneof the overlay splits: its group's name and the paths of the
    /// group's choices (the option it is one choice of).
    pub choice_group: Option<(String, Vec<String>)>,
    /// Slots that must be filled already (the overlay's `needs`: BYRADIUS after FROM...).
    pub requires_filled: Vec<usize>,
    /// The overlay's `same_length`: (the counted constructor type parameter, this method's type
    /// parameter), whose lengths must agree.
    pub requires_same_length: Vec<(String, String)>,
}

/// What a run-time form of an option (`ex_opt`, `nx_if`) is the form of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTimeOf {
    /// The method it is the form of (`ex`).
    pub method: String,
    /// Its parameter, which says whether the option is given: an `Option` (`seconds`) or a
    /// `bool` (`given`).
    pub param: String,
    /// Whether the parameter is an `Option` (else a `bool`).
    pub option: bool,
}

/// A repeated option whose values go one per element of a constructor argument (the overlay's
/// `same_length`), compared before sending when the lengths are known only at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SameLength {
    /// The option's slot.
    pub option: usize,
    /// Its token, written once before the values.
    pub token: String,
    /// The counted argument's slot.
    pub counted: usize,
}

/// A type emitted for an argument: an enum for a oneof, a struct for a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    /// Its Rust name.
    pub name: String,
    /// The argument it represents.
    pub arg_path: String,
    /// Whether other commands use the same type (named in the overlay's `enums`).
    pub shared: bool,
}

/// The reply type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Always this type.
    Fixed(String),
    /// A type using the caller's `T` (a builder type parameter).
    User(String),
    /// Starts as `base`; options raise it (a builder type parameter `O`).
    Leveled(String),
}

/// The whole shape of one builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    /// Constructor name.
    pub fn_name: String,
    /// Struct name.
    pub type_name: String,
    /// Constructor generics.
    pub generics: Vec<Generic>,
    /// Constructor parameters.
    pub params: Vec<Param>,
    /// Struct fields, in write order.
    pub slots: Vec<Slot>,
    /// What `write_args` writes after the name.
    pub writes: Vec<Write>,
    /// Chained methods.
    pub methods: Vec<Method>,
    /// Enums and structs the builder's parameters use.
    pub owned: Vec<Owned>,
    /// Reply type.
    pub output: Output,
    /// Whether the builder records a minimum version newer than the command's.
    pub tracks_version: bool,
    /// Constructor parameters whose value (a generated enum or struct) knows the versions its
    /// choices need, nested ones included.
    pub since_params: Vec<String>,
    /// State slots that must be filled before the command can be sent (a required oneof given
    /// by methods: the overlay's `oneof_methods`).
    pub required_slots: Vec<usize>,
    /// Options whose length must match a constructor argument's.
    pub same_length: Vec<SameLength>,
}

/// Names a generated builder must not give its type parameters (types its code uses).
const RESERVED_TYPES: &[&str] = &[
    "T",
    "O",
    "Unset",
    "Present",
    "Tok",
    "Tokened",
    "EachTok",
    "Version",
    "CommandMeta",
    "ArgWriter",
    "ToValkeyArg",
    "ToValkeyArgs",
    "FromValkey",
    "Command",
    "Option",
    "Vec",
    "String",
    "Value",
    "Bytes",
    "PhantomData",
    "Reply",
    "Raise",
    "Base",
    "L1",
    "L2",
    "Self",
    "Some",
    "None",
    "Okay",
    "Elements",
    "OneElement",
    "Block",
    "Combinable",
    "Filled",
    "Chosen",
    "SameLength",
    "Sole",
    "Unfilled",
    "Given",
    "Pairs",
    "Unzip",
    "EachArg",
    "IntoSeconds",
    "IntoSecondsF64",
    "IntoMillis",
    "IntoUnixSeconds",
    "IntoUnixMillis",
];

/// The names of methods every builder has through `Command`.
const RESERVED_METHODS: &[&str] = &["num_args", "write_args", "meta", "min_version", "returning"];

/// The name of a generated enum or struct for `arg` inside a type (or builder) named `parent`.
/// (The overlay's `types` name for it; a shared enum's name from the overlay's `enums`; else the
/// parent's name and the argument's, its overlay name if it has one.)
pub fn owned_name(
    parent: &str,
    arg: &Arg,
    overlay_enums: &BTreeMap<String, String>,
    names: &BTreeMap<String, String>,
    types: &BTreeMap<String, String>,
) -> String {
    if let Some(t) = types.get(&arg.path) {
        return t.clone();
    }
    if let Kind::OneOf(c) = &arg.kind {
        if let Some(name) = token_signature(c).and_then(|s| overlay_enums.get(&s)) {
            return name.clone();
        }
    }
    let own = names
        .get(&arg.path)
        .map_or(arg.name.as_str(), String::as_str);
    format!("{parent}{}", camel(own))
}

/// A name for something that writes `arg`: the overlay's name, else its token when it is a word
/// (`EX` → `ex`), else its spec name.
pub fn method_name(arg: &Arg, names: &BTreeMap<String, String>) -> String {
    if let Some(n) = names.get(&arg.path) {
        return n.clone();
    }
    match &arg.token {
        Some(t) if has_words(t) && !crate::names::is_keyword(snake(t).trim_end_matches('_')) => {
            snake(t)
        }
        _ => snake(&arg.name),
    }
}

/// A variant name for a choice of a oneof (`NX` → `Nx`, `*` → the spec name).
pub fn variant_name(arg: &Arg, names: &BTreeMap<String, String>) -> String {
    if let Some(n) = names.get(&arg.path) {
        return camel(n);
    }
    match &arg.token {
        Some(t) if has_words(t) && arg.kind == Kind::PureToken => camel(t),
        _ => camel(&arg.name),
    }
}

/// Whether an optional block can be one method taking all its parts (nothing inside is
/// optional, repeated with a token, or a oneof carrying values).
fn is_simple_block(children: &[Arg]) -> bool {
    children.iter().all(|c| {
        !c.optional
            && !c.multiple_token
            && match &c.kind {
                Kind::Block(cc) => !c.multiple && is_simple_block(cc),
                Kind::OneOf(_) => !c.multiple,
                _ => true,
            }
    })
}

/// The element shape of a repeated plain group of two or more values (ZADD's `score member`:
/// `(Number, Arg)`), which its parameter's bound enforces; `None` for anything else.
pub fn group_shape(arg: &Arg) -> Option<ElementShape> {
    match &arg.kind {
        Kind::Block(children) if arg.is_value_group() => Some(ElementShape::Tuple(
            children
                .iter()
                .map(|c| match c.kind {
                    Kind::Double => ElementKind::Number,
                    Kind::Integer | Kind::UnixTime => ElementKind::Integer,
                    _ => ElementKind::Arg,
                })
                .collect(),
        )),
        _ => None,
    }
}

/// How many arguments one element of a repeated argument writes.
fn width(arg: &Arg) -> Result<usize, String> {
    match &arg.kind {
        Kind::Block(c) => c.iter().try_fold(0, |n, a| {
            if a.optional || a.multiple {
                return Err(format!(
                    "{}: cannot count a block with optional parts",
                    arg.path
                ));
            }
            Ok(n + width(a)? + usize::from(a.token.is_some() && a.kind != Kind::PureToken))
        }),
        Kind::OneOf(_) => Err(format!("{}: cannot count a oneof", arg.path)),
        _ => Ok(1),
    }
}

struct Ctx<'a> {
    cmd: &'a Command,
    ov: &'a CommandOverlay,
    enums: &'a BTreeMap<String, String>,
    b: Builder,
    type_params: BTreeSet<String>,
    /// Type parameters numbered because their name was taken: name → the name they wanted.
    numbered: BTreeMap<String, String>,
    fields: BTreeSet<String>,
    pending_counts: Vec<(usize, String)>,
    /// Constructor parameters converted where given (times): name → the converted value.
    converted: BTreeMap<String, Part>,
}

/// Where required arguments go while flattening.
enum Mode {
    /// Constructor parameters, fixed slots, constant tokens.
    Ctor,
    /// An optional block's entry method: method parameters filling state slots (tokens too, as
    /// they are written only when the block is given).
    Entry(Box<Method>),
}

impl<'a> Ctx<'a> {
    fn type_param(&mut self, base: &str) -> String {
        let mut name = camel(base);
        if name.is_empty() {
            name = "A".into();
        }
        if RESERVED_TYPES.contains(&name.as_str()) || self.b.owned.iter().any(|o| o.name == name) {
            name.push_str("Arg");
        }
        let mut candidate = name.clone();
        let mut i = 2;
        while !self.type_params.insert(candidate.clone()) {
            candidate = format!("{name}{i}");
            i += 1;
        }
        if candidate != name {
            self.numbered.insert(candidate.clone(), name);
        }
        candidate
    }

    fn field(&mut self, arg: &Arg) -> String {
        let mut name = snake(&arg.name);
        if self.fields.contains(&name) {
            let parent = arg.path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            name = snake(&format!("{parent} {}", arg.name));
        }
        let mut candidate = name.clone();
        let mut i = 2;
        while candidate == "min_version" || !self.fields.insert(candidate.clone()) {
            candidate = format!("{name}_{i}");
            i += 1;
        }
        candidate
    }

    /// A written state slot for one group of a split oneof, named after the group.
    fn named_state_slot(&mut self, arg: &Arg, group: &str) -> usize {
        let param = self.type_param(group);
        let mut field = snake(group);
        let mut i = 2;
        while field == "min_version" || !self.fields.insert(field.clone()) {
            field = format!("{}_{i}", snake(group));
            i += 1;
        }
        self.b.slots.push(Slot {
            field,
            kind: SlotKind::State(param),
            arg_path: arg.path.clone(),
        });
        let i = self.b.slots.len() - 1;
        self.b.writes.push(Write::Slot(i));
        i
    }

    fn since_of(&self, path: &str) -> Option<Version> {
        // The newest `since` on the argument and its ancestors.
        let mut best = None;
        let mut prefix = String::new();
        for part in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if let Some(v) = self.cmd.arg(&prefix).and_then(|a| a.since) {
                best = best.max(Some(v));
            }
        }
        best.filter(|v| *v > self.cmd.since)
    }

    fn owned(&mut self, arg: &Arg) -> String {
        let name = owned_name(
            &self.b.type_name,
            arg,
            self.enums,
            &self.ov.names,
            &self.ov.types,
        );
        let shared = match &arg.kind {
            Kind::OneOf(c) => token_signature(c).is_some_and(|s| self.enums.contains_key(&s)),
            _ => false,
        };
        if !self.b.owned.iter().any(|o| o.name == name) {
            self.b.owned.push(Owned {
                name: name.clone(),
                arg_path: arg.path.clone(),
                shared,
            });
        }
        name
    }

    fn add_slot(&mut self, arg: &Arg, kind: SlotKind) -> usize {
        let field = self.field(arg);
        self.b.slots.push(Slot {
            field,
            kind,
            arg_path: arg.path.clone(),
        });
        self.b.slots.len() - 1
    }

    fn state_slot(&mut self, arg: &Arg, written: bool) -> usize {
        // The overlay's name for the option names its type parameter too (`Get`, not the
        // spec's `GetBlock`).
        let base = self.ov.names.get(&arg.path).unwrap_or(&arg.name).clone();
        let param = self.type_param(&base);
        let i = self.add_slot(arg, SlotKind::State(param));
        if written {
            self.b.writes.push(Write::Slot(i));
        }
        i
    }

    /// A single value's parameter: (type, generic if any).
    fn value_param(&mut self, arg: &Arg) -> (Ty, Option<Generic>) {
        if let Some(conv) = self
            .ov
            .times
            .get(&arg.path)
            .and_then(|unit| TimeConv::of(unit, &arg.kind))
        {
            let g = self.type_param(&arg.name);
            let bound = Bound::Time(conv);
            return (Ty::Param(g.clone()), Some(Generic { name: g, bound }));
        }
        if arg.multiple {
            if matches!(arg.kind, Kind::OneOf(_)) || !arg.is_plain_block() {
                // The elements are values of a generated enum or struct (which write the tokens).
                self.owned(arg);
            }
            // A counted repeated value (EVAL's keys into `numkeys`) takes values one by one,
            // so that the count is the number of values (a map would count twice).
            let counted = self.ov.counts.values().any(|t| t == &arg.path);
            let bound = match group_shape(arg) {
                _ if arg.multiple_token => Bound::Iter,
                Some(shape) => Bound::Elements(shape),
                None if counted && arg.kind.is_leaf() => {
                    Bound::Elements(ElementShape::One(ElementKind::Arg))
                }
                // Repeated numbers take numbers (`weights([2.0, 1.0])`), not text.
                None if arg.kind == Kind::Double => {
                    Bound::Elements(ElementShape::One(ElementKind::Number))
                }
                None if matches!(arg.kind, Kind::Integer | Kind::UnixTime) => {
                    Bound::Elements(ElementShape::One(ElementKind::Integer))
                }
                None => Bound::Many,
            };
            let g = self.type_param(&arg.name);
            return (Ty::Param(g.clone()), Some(Generic { name: g, bound }));
        }
        match &arg.kind {
            Kind::Integer | Kind::UnixTime => (Ty::I64, None),
            Kind::Double => (Ty::F64, None),
            Kind::Key | Kind::String | Kind::Pattern => {
                let g = self.type_param(&arg.name);
                (
                    Ty::Param(g.clone()),
                    Some(Generic {
                        name: g,
                        bound: Bound::One,
                    }),
                )
            }
            Kind::OneOf(_) | Kind::Block(_) => (Ty::Named(self.owned(arg)), None),
            Kind::PureToken => unreachable!("a pure token has no value"),
        }
    }

    /// Adds a parameter giving `arg`'s value (a leaf, a repeated anything, a oneof as an enum);
    /// returns the value with the argument's own token applied.
    fn param_value(&mut self, arg: &Arg, m: Option<&mut Method>) -> Part {
        let pname = snake(&arg.name);
        let (ty, generic) = self.value_param(arg);
        // A generated enum or struct with versioned choices inside reports the newest one.
        let versioned = generic.is_none()
            && matches!(arg.kind, Kind::OneOf(_) | Kind::Block(_))
            && arg.kind.children().iter().any(Arg::has_since);
        let (params, generics, since_params) = match m {
            Some(m) => (&mut m.params, &mut m.generics, &mut m.since_params),
            None => (
                &mut self.b.params,
                &mut self.b.generics,
                &mut self.b.since_params,
            ),
        };
        let mut name = pname.clone();
        let mut i = 2;
        while params.iter().any(|p| p.name == name) {
            name = format!("{pname}_{i}");
            i += 1;
        }
        if versioned {
            since_params.push(name.clone());
        }
        params.push(Param {
            name: name.clone(),
            ty: ty.clone(),
            arg_path: arg.path.clone(),
        });
        let time = generic.as_ref().and_then(|g| match g.bound {
            Bound::Time(conv) => Some(conv),
            _ => None,
        });
        generics.extend(generic);
        if let Some(conv) = time {
            // Converted where it is given; the builder keeps the number.
            let value = Part::Time(name.clone(), conv);
            self.converted.insert(name, value.clone());
            return Part::tokened(arg, value);
        }
        Part::tokened(arg, Part::Param(name, ty))
    }

    /// All parts of a simple block as one value: `Block((Tok("LIMIT"), offset, count))`.
    fn block_value(&mut self, arg: &Arg, m: &mut Method) -> Part {
        let mut parts = vec![];
        if let Some(t) = &arg.token {
            parts.push(Part::Tok(t.clone()));
        }
        for c in arg.kind.children() {
            parts.push(match &c.kind {
                Kind::PureToken => Part::Tok(c.token.clone().unwrap_or_default()),
                Kind::Block(_) if !c.multiple => self.block_value(c, m),
                _ => self.param_value(c, Some(m)),
            });
        }
        Part::Group(parts)
    }

    fn new_method(&self, name: String, arg: &Arg, present: &[usize]) -> Method {
        Method {
            name,
            arg_path: arg.path.clone(),
            generics: vec![],
            params: vec![],
            sets: vec![],
            requires_unset: vec![],
            requires_present: present.to_vec(),
            since: self.since_of(&arg.path),
            reply: None,
            pins_t: None,
            since_params: vec![],
            requires_combinable: vec![],
            requires_one: vec![],
            run_time_of: None,
            choice_group: None,
            requires_filled: vec![],
            requires_same_length: vec![],
        }
    }

    /// Required arguments, in order (top level, inside a required block, or inside an optional
    /// block's entry method).
    fn required(&mut self, args: &[Arg], mode: &mut Mode, present: &[usize]) -> Result<(), String> {
        for a in args {
            if let Some(target) = self.ov.counts.get(&a.path) {
                if matches!(mode, Mode::Entry(_)) {
                    return Err(format!("{}: a count inside an optional block", a.path));
                }
                // A count with a token (`BYPOLYGON num-vertices`) is written after its token.
                if let Some(t) = &a.token {
                    self.b.writes.push(Write::Const(t.clone()));
                }
                self.pending_counts
                    .push((self.b.writes.len(), target.clone()));
                self.b.writes.push(Write::Const(String::new()));
                continue;
            }
            if a.optional {
                self.optional(a, present)?;
                continue;
            }
            if matches!(mode, Mode::Ctor) && self.ov.oneof_methods.contains(&a.path) {
                // A required oneof given by methods: its slot must be filled to send.
                let before = self.b.slots.len();
                self.optional(a, present)?;
                self.b.required_slots.extend(before..self.b.slots.len());
                continue;
            }
            match (&a.kind, a.multiple, &mut *mode) {
                (Kind::PureToken, _, Mode::Ctor) => self
                    .b
                    .writes
                    .push(Write::Const(a.token.clone().unwrap_or_default())),
                (Kind::PureToken, _, Mode::Entry(m)) => {
                    let i = self.state_slot(a, true);
                    m.sets
                        .push((i, Part::Tok(a.token.clone().unwrap_or_default())));
                    m.requires_unset.push(i);
                }
                (Kind::Block(_), false, Mode::Ctor) if self.ov.pairs.contains(&a.path) => {
                    // One parameter of pairs, written as all firsts then all seconds.
                    if let Some(t) = &a.token {
                        self.b.writes.push(Write::Const(t.clone()));
                    }
                    let g = self.type_param(&a.name);
                    let name = snake(&a.name);
                    self.b.params.push(Param {
                        name: name.clone(),
                        ty: Ty::Param(g.clone()),
                        arg_path: a.path.clone(),
                    });
                    self.b.generics.push(Generic {
                        name: g.clone(),
                        bound: Bound::Pairs,
                    });
                    let i = self.add_slot(a, SlotKind::Fixed(Part::Unzip(name, Ty::Param(g))));
                    self.b.writes.push(Write::Slot(i));
                }
                (Kind::Block(children), false, Mode::Ctor) => {
                    if let Some(t) = &a.token {
                        self.b.writes.push(Write::Const(t.clone()));
                    }
                    self.required(children, mode, present)?;
                }
                (Kind::Block(children), false, Mode::Entry(m)) => {
                    if let Some(t) = &a.token {
                        let i = self.state_slot(a, true);
                        m.sets.push((i, Part::Tok(t.clone())));
                        m.requires_unset.push(i);
                    }
                    self.required(children, mode, present)?;
                }
                (_, _, Mode::Ctor) => {
                    let const_token = a.token.is_some() && !a.multiple_token;
                    if const_token {
                        self.b
                            .writes
                            .push(Write::Const(a.token.clone().unwrap_or_default()));
                    }
                    let value = self.param_value(a, None);
                    let param = self
                        .b
                        .params
                        .last()
                        .expect("a parameter was just added")
                        .clone();
                    // A constant token is written on its own; the field keeps the bare value.
                    let init = match self.converted.get(&param.name) {
                        Some(converted) if const_token => converted.clone(),
                        _ if const_token => Part::Param(param.name, param.ty),
                        _ => value,
                    };
                    let i = self.add_slot(a, SlotKind::Fixed(init));
                    self.b.writes.push(Write::Slot(i));
                }
                (_, _, Mode::Entry(m)) => {
                    let value = self.param_value(a, Some(m));
                    let i = self.state_slot(a, true);
                    m.sets.push((i, value));
                    m.requires_unset.push(i);
                }
            }
        }
        Ok(())
    }

    /// An optional argument: methods filling one slot (or, for a complex block, several).
    fn optional(&mut self, a: &Arg, present: &[usize]) -> Result<(), String> {
        let names = &self.ov.names;
        match &a.kind {
            Kind::OneOf(choices) if !a.multiple => {
                // One slot for the oneof, or one per group when the overlay splits it (in the
                // order of each group's first choice).
                let mut groups: Vec<(Option<&String>, Vec<&Arg>)> = match self.ov.split.get(&a.path)
                {
                    Some(split) => split
                        .iter()
                        .map(|(g, members)| {
                            (
                                Some(g),
                                choices
                                    .iter()
                                    .filter(|c| members.contains(&c.name))
                                    .collect(),
                            )
                        })
                        .collect(),
                    None => vec![(None, choices.iter().collect())],
                };
                groups.sort_by_key(|(_, members)| {
                    choices
                        .iter()
                        .position(|c| members.first().is_some_and(|m| m.path == c.path))
                });
                for (group, members) in groups {
                    let slot = match group {
                        Some(g) => self.named_state_slot(a, g),
                        None => self.state_slot(a, true),
                    };
                    let choice_group = group.map(|g| {
                        (
                            g.clone(),
                            members.iter().map(|c| c.path.clone()).collect::<Vec<_>>(),
                        )
                    });
                    for c in members {
                        let base = method_name(c, names);
                        let name = match (&a.token, names.contains_key(&c.path)) {
                            (Some(t), false) if has_words(t) => {
                                format!(
                                    "{}_{}",
                                    snake(t).trim_end_matches('_'),
                                    base.trim_end_matches('_')
                                )
                            }
                            _ => base,
                        };
                        let mut m = self.new_method(name, c, present);
                        m.choice_group = choice_group.clone();
                        let value = match &c.kind {
                            Kind::PureToken => Part::Tok(c.token.clone().unwrap_or_default()),
                            Kind::Block(cc) if !c.multiple && is_simple_block(cc) => {
                                self.block_value(c, &mut m)
                            }
                            _ => self.param_value(c, Some(&mut m)),
                        };
                        let value = match &a.token {
                            Some(t) => Part::Tokened(t.clone(), Box::new(value)),
                            None => value,
                        };
                        m.sets.push((slot, value));
                        m.requires_unset.push(slot);
                        self.b.methods.push(m);
                    }
                }
            }
            Kind::Block(children) if !a.multiple && !is_simple_block(children) => {
                // Presence marker, then the block's own parts as slots filled by the entry method,
                // and its optional parts as methods that need the block.
                let presence_param = self.type_param(&format!("{} given", a.name));
                let p = self.add_slot(a, SlotKind::Presence(presence_param));
                let entry_name = names.get(&a.path).cloned().unwrap_or_else(|| {
                    match (&a.token, children.first()) {
                        (Some(_), _) => method_name(a, names),
                        (None, Some(first)) if first.token.is_some() && !first.optional => {
                            method_name(first, names)
                        }
                        _ => snake(&a.name),
                    }
                });
                let mut m = self.new_method(entry_name, a, present);
                m.requires_unset.push(p);
                m.sets.push((p, Part::Present));
                if let Some(t) = &a.token {
                    let i = self.state_slot(a, true);
                    self.b.slots[i].field.push_str("_token");
                    m.sets.push((i, Part::Tok(t.clone())));
                    m.requires_unset.push(i);
                }
                let mut inner_present = present.to_vec();
                inner_present.push(p);
                // The entry method comes first among the block's methods (spec order in the docs);
                // it is completed once the block's own parts are known.
                let at = self.b.methods.len();
                self.b.methods.push(m.clone());
                let mut mode = Mode::Entry(Box::new(m));
                self.required(children, &mut mode, &inner_present)?;
                if let Mode::Entry(m) = mode {
                    self.b.methods[at] = *m;
                }
            }
            _ => {
                let slot = self.state_slot(a, true);
                let entry_name = match (&a.kind, &a.token, a.kind.children().first()) {
                    (Kind::Block(_), None, Some(first))
                        if first.token.is_some() && !names.contains_key(&a.path) =>
                    {
                        method_name(first, names)
                    }
                    _ => method_name(a, names),
                };
                let mut m = self.new_method(entry_name, a, present);
                let value = match &a.kind {
                    Kind::PureToken => Part::Tok(a.token.clone().unwrap_or_default()),
                    Kind::Block(_) if !a.multiple => self.block_value(a, &mut m),
                    _ => self.param_value(a, Some(&mut m)),
                };
                m.sets.push((slot, value));
                m.requires_unset.push(slot);
                self.b.methods.push(m);
            }
        }
        Ok(())
    }
}

/// Decides the builder for one command.
pub fn builder(
    cmd: &Command,
    ov: &CommandOverlay,
    enums: &BTreeMap<String, String>,
) -> Result<Builder, String> {
    let mut type_name = camel(&cmd.full_name());
    if RESERVED_TYPES.contains(&type_name.as_str())
        || [
            "Command",
            "Cmd",
            "KeySpec",
            "ArgMeta",
            "BeginSearch",
            "FindKeys",
            "CommandFlags",
        ]
        .contains(&type_name.as_str())
    {
        // `COMMAND`'s builder must not hide the `Command` trait.
        type_name.push_str("Cmd");
    }
    let fn_name = ov
        .fn_name
        .clone()
        .unwrap_or_else(|| snake(&cmd.full_name()));
    // A caller's-choice reply that an option fixes to one type (SORT ... STORE: an i64) pins `T`
    // rather than raising a level: `T` stays inferable from the method alone.
    let pins = ov.reply.trim() == "T" && ov.reply_when.iter().all(|w| !uses_t(&w.reply));
    let output = if !ov.reply_when.is_empty() && !pins {
        Output::Leveled(ov.reply.clone())
    } else if uses_t(&ov.reply) {
        Output::User(ov.reply.clone())
    } else {
        Output::Fixed(ov.reply.clone())
    };
    let mut ctx = Ctx {
        cmd,
        ov,
        enums,
        b: Builder {
            fn_name,
            type_name,
            generics: vec![],
            params: vec![],
            slots: vec![],
            writes: vec![],
            methods: vec![],
            owned: vec![],
            output,
            tracks_version: false,
            since_params: vec![],
            required_slots: vec![],
            same_length: vec![],
        },
        type_params: BTreeSet::new(),
        numbered: BTreeMap::new(),
        fields: BTreeSet::new(),
        pending_counts: vec![],
        converted: BTreeMap::new(),
    };
    let what = cmd.full_name();
    ctx.required(&cmd.args, &mut Mode::Ctor, &[])
        .map_err(|e| format!("{what}: {e}"))?;

    // Counts: resolve the counted slot.
    for (w, target) in std::mem::take(&mut ctx.pending_counts) {
        let slot = ctx
            .b
            .slots
            .iter()
            .position(|s| s.arg_path == target)
            .ok_or_else(|| format!("{what}: counted argument {target} has no slot"))?;
        let arg = cmd
            .arg(&target)
            .ok_or_else(|| format!("{what}: no {target}"))?;
        let width = width(arg).map_err(|e| format!("{what}: {e}"))?;
        ctx.b.writes[w] = Write::Count { slot, width };
    }

    // Reply levels.
    let numbered = std::mem::take(&mut ctx.numbered);
    let mut b = ctx.b;
    for (level, w) in ov.reply_when.iter().enumerate() {
        let mut any = false;
        for m in &mut b.methods {
            if m.arg_path == w.arg || m.arg_path.starts_with(&format!("{}/", w.arg)) {
                if pins {
                    m.pins_t = Some(w.reply.clone());
                } else {
                    m.reply = Some((level + 1, w.reply.clone()));
                }
                any = true;
            }
        }
        if !any {
            return Err(format!("{what}: reply_when {}: no method gives it", w.arg));
        }
    }
    // Options the server refuses together: each side's value is marked `Sole`, and each side
    // needs the slots the other side fills to hold no `Sole`.
    let gives =
        |m: &Method, path: &str| m.arg_path == path || m.arg_path.starts_with(&format!("{path}/"));
    let slots_giving = |b: &Builder, path: &str| -> BTreeSet<usize> {
        b.methods
            .iter()
            .filter(|m| gives(m, path))
            .flat_map(|m| m.sets.iter().map(|s| s.0))
            .collect()
    };
    for [x, y] in &ov.exclusive {
        let (sx, sy) = (slots_giving(&b, x), slots_giving(&b, y));
        for (side, own, other) in [(x, &sx, &sy), (y, &sy, &sx)] {
            if own.is_empty() {
                return Err(format!("{what}: exclusive {side:?}: no method gives it"));
            }
            for m in b.methods.iter_mut().filter(|m| gives(m, side)) {
                for (slot, value) in &mut m.sets {
                    if own.contains(slot) && !matches!(value, Part::Sole(_)) {
                        *value = Part::Sole(Box::new(value.clone()));
                    }
                }
                for o in other {
                    if !m.requires_combinable.contains(o) {
                        m.requires_combinable.push(*o);
                    }
                }
            }
        }
    }
    for (option, needed) in &ov.needs {
        let slots = slots_giving(&b, needed);
        if slots.is_empty() {
            return Err(format!("{what}: needs {needed:?}: no method gives it"));
        }
        let mut any = false;
        for m in b.methods.iter_mut().filter(|m| gives(m, option)) {
            m.requires_filled.extend(slots.iter().copied());
            any = true;
        }
        if !any {
            return Err(format!("{what}: needs {option:?}: no method gives it"));
        }
    }
    // What a required choice or a needed option holds must say it was given (`Filled`: a
    // token, a tokened value, a group, a `Sole`), not be a bare value.
    let needed: BTreeSet<usize> = b
        .methods
        .iter()
        .flat_map(|m| m.requires_filled.iter().copied())
        .chain(b.required_slots.iter().copied())
        .collect();
    for m in &b.methods {
        for (slot, value) in &m.sets {
            let given = matches!(
                value,
                Part::Tok(_)
                    | Part::Tokened(..)
                    | Part::EachTok(..)
                    | Part::Group(_)
                    | Part::Sole(_)
            );
            if needed.contains(slot) && !given {
                return Err(format!(
                    "{what}: {} fills a slot that must be given, with a bare value",
                    m.name
                ));
            }
        }
    }
    for (option, target) in &ov.same_length {
        let counted_param = match b.params.iter().find(|p| &p.arg_path == target) {
            Some(Param {
                ty: Ty::Param(g), ..
            }) => g.clone(),
            _ => return Err(format!("{what}: same_length {target:?}: not a parameter")),
        };
        let counted = b
            .slots
            .iter()
            .position(|s| &s.arg_path == target)
            .ok_or_else(|| format!("{what}: same_length {target:?}: no slot"))?;
        let option_slot = b
            .slots
            .iter()
            .position(|s| &s.arg_path == option)
            .ok_or_else(|| format!("{what}: same_length {option:?}: no slot"))?;
        for m in b.methods.iter_mut().filter(|m| &m.arg_path == option) {
            let own = match m.params.first().map(|p| &p.ty) {
                Some(Ty::Param(g)) => g.clone(),
                _ => return Err(format!("{what}: same_length {option:?}: no type parameter")),
            };
            m.requires_same_length.push((counted_param.clone(), own));
        }
        b.same_length.push(SameLength {
            option: option_slot,
            token: cmd
                .arg(option)
                .and_then(|a| a.token.clone())
                .unwrap_or_default(),
            counted,
        });
    }
    for (option, group) in &ov.one_element_with {
        let param = match b.params.iter().find(|p| &p.arg_path == group) {
            Some(Param {
                ty: Ty::Param(g), ..
            }) => g.clone(),
            _ => {
                return Err(format!(
                    "{what}: one_element_with {group:?}: not a parameter"
                ))
            }
        };
        let shape = cmd
            .arg(group)
            .and_then(group_shape)
            .ok_or_else(|| format!("{what}: one_element_with {group:?}: not a group"))?;
        for m in &mut b.methods {
            if m.arg_path == *option || m.arg_path.starts_with(&format!("{option}/")) {
                m.requires_one.push((param.clone(), shape.clone()));
            }
        }
    }
    // Each simple option also gets a run-time form, so that both branches of an `if` have one
    // type: `ex_opt(Option<i64>)`, `nx_if(bool)` (`None`/`false` leaves it out). Not for options
    // that change the reply type, need one element, open a group, or carry versioned values.
    // (An exclusive one's run-time form excludes the other side whether or not it is given.)
    let mut run_time = vec![];
    for m in &b.methods {
        let simple = m.reply.is_none()
            && m.pins_t.is_none()
            && m.requires_one.is_empty()
            && m.since_params.is_empty()
            && m.sets.len() == 1
            && matches!(b.slots[m.sets[0].0].kind, SlotKind::State(_))
            && !b.required_slots.contains(&m.sets[0].0)
            && m.params.len() <= 1;
        if !simple {
            continue;
        }
        let base = m.name.trim_end_matches('_');
        let (slot, value) = m.sets[0].clone();
        let mut r = m.clone();
        match m.params.first() {
            Some(p) => {
                r.name = format!("{base}_opt");
                // A time is a plain number here, so that `ex_opt(None)` needs no annotation.
                let time = m.generics.iter().find_map(|g| match &g.bound {
                    Bound::Time(conv) if p.ty == Ty::Param(g.name.clone()) => Some(*conv),
                    _ => None,
                });
                let value_ty = time.map_or_else(|| p.ty.clone(), TimeConv::number);
                r.generics
                    .retain(|g| time.is_none() || p.ty != Ty::Param(g.name.clone()));
                let option_ty = Ty::Option(Box::new(value_ty));
                r.params[0].ty = option_ty.clone();
                let value = match value {
                    // The parameter is the value: the `Option` is stored as it is.
                    Part::Param(name, _) if name == p.name => Part::Param(name, option_ty),
                    other => Part::OptionOf(p.name.clone(), Box::new(other)),
                };
                r.sets = vec![(slot, value)];
                r.run_time_of = Some(RunTimeOf {
                    method: m.name.clone(),
                    param: p.name.clone(),
                    option: true,
                });
            }
            None => {
                r.name = format!("{base}_if");
                r.params = vec![Param {
                    name: "given".into(),
                    ty: Ty::Bool,
                    arg_path: m.arg_path.clone(),
                }];
                r.sets = vec![(slot, Part::If("given".into(), Box::new(value)))];
                r.run_time_of = Some(RunTimeOf {
                    method: m.name.clone(),
                    param: "given".into(),
                    option: false,
                });
            }
        }
        run_time.push(r);
    }
    b.methods.extend(run_time);
    unnumber_type_params(&mut b, &numbered);
    b.tracks_version = b
        .methods
        .iter()
        .any(|m| m.since.is_some() || !m.since_params.is_empty())
        || !b.since_params.is_empty();

    // Names must be unique and not shadow `Command`'s methods.
    let mut seen = BTreeSet::new();
    for m in &b.methods {
        if RESERVED_METHODS.contains(&m.name.as_str()) {
            return Err(format!(
                "{what}: method {} would shadow Command::{0}; rename {} in the overlay",
                m.name, m.arg_path
            ));
        }
        if !seen.insert(m.name.clone()) {
            return Err(format!(
                "{what}: two methods named {}; name {} in the overlay",
                m.name, m.arg_path
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for p in &b.params {
        if !seen.insert(p.name.clone()) {
            return Err(format!("{what}: two parameters named {}", p.name));
        }
    }
    Ok(b)
}

/// Names type parameters without the numbers a first-come naming gave them (`Threshold2`,
/// `pattern<Pattern2>`): a builder's own parameter takes the plain name, and a method's
/// parameter that would shadow it is named for the value it takes (`pattern<PatternValue>`).
fn unnumber_type_params(b: &mut Builder, numbered: &BTreeMap<String, String>) {
    let struct_params = |b: &Builder| -> BTreeSet<String> {
        let slots = b.slots.iter().filter_map(|s| match &s.kind {
            SlotKind::State(n) | SlotKind::Presence(n) => Some(n.clone()),
            SlotKind::Fixed(_) => None,
        });
        b.generics
            .iter()
            .map(|g| g.name.clone())
            .chain(slots)
            .collect()
    };
    let all = |b: &Builder| -> BTreeSet<String> {
        let methods = b
            .methods
            .iter()
            .flat_map(|m| &m.generics)
            .map(|g| g.name.clone());
        struct_params(b).into_iter().chain(methods).collect()
    };
    let free = |taken: &BTreeSet<String>, want: &str| -> String {
        let mut candidate = want.to_string();
        let mut i = 2;
        while taken.contains(&candidate) || RESERVED_TYPES.contains(&candidate.as_str()) {
            candidate = format!("{want}{i}");
            i += 1;
        }
        candidate
    };
    for name in struct_params(b) {
        let Some(plain) = numbered.get(&name) else {
            continue;
        };
        if struct_params(b).contains(plain) {
            continue;
        }
        let taken = all(b);
        let value = free(&taken, &format!("{plain}Value"));
        for m in &mut b.methods {
            m.rename_type_param(plain, &value);
        }
        b.rename_type_param(&name, plain);
    }
    let own = struct_params(b);
    for i in 0..b.methods.len() {
        for g in b.methods[i].generics.clone() {
            let plain = numbered.get(&g.name).unwrap_or(&g.name);
            let want = if own.contains(plain) {
                format!("{plain}Value")
            } else {
                plain.clone()
            };
            if want == g.name {
                continue;
            }
            let mut taken = own.clone();
            taken.extend(b.methods[i].generics.iter().map(|g| g.name.clone()));
            if taken.contains(&want) || RESERVED_TYPES.contains(&want.as_str()) {
                continue;
            }
            b.methods[i].rename_type_param(&g.name, &want);
        }
    }
}

impl Ty {
    fn rename_type_param(&mut self, from: &str, to: &str) {
        match self {
            Ty::Param(n) if n == from => *n = to.to_string(),
            Ty::Option(t) => t.rename_type_param(from, to),
            _ => {}
        }
    }
}

impl Part {
    fn rename_type_param(&mut self, from: &str, to: &str) {
        match self {
            Part::Param(_, t) | Part::Unzip(_, t) => t.rename_type_param(from, to),
            Part::Tokened(_, p)
            | Part::EachTok(_, p)
            | Part::Sole(p)
            | Part::OptionOf(_, p)
            | Part::If(_, p) => p.rename_type_param(from, to),
            Part::Group(parts) => parts.iter_mut().for_each(|p| p.rename_type_param(from, to)),
            Part::Time(..) | Part::Tok(_) | Part::Present => {}
        }
    }
}

fn rename_in(name: &mut String, from: &str, to: &str) {
    if name == from {
        *name = to.to_string();
    }
}

impl Method {
    fn rename_type_param(&mut self, from: &str, to: &str) {
        self.generics
            .iter_mut()
            .for_each(|g| rename_in(&mut g.name, from, to));
        self.params
            .iter_mut()
            .for_each(|p| p.ty.rename_type_param(from, to));
        self.sets
            .iter_mut()
            .for_each(|(_, p)| p.rename_type_param(from, to));
        self.requires_one
            .iter_mut()
            .for_each(|(n, _)| rename_in(n, from, to));
        for (counted, own) in &mut self.requires_same_length {
            rename_in(counted, from, to);
            rename_in(own, from, to);
        }
    }
}

impl Builder {
    fn rename_type_param(&mut self, from: &str, to: &str) {
        self.generics
            .iter_mut()
            .for_each(|g| rename_in(&mut g.name, from, to));
        self.params
            .iter_mut()
            .for_each(|p| p.ty.rename_type_param(from, to));
        for slot in &mut self.slots {
            match &mut slot.kind {
                SlotKind::State(n) | SlotKind::Presence(n) => rename_in(n, from, to),
                SlotKind::Fixed(p) => p.rename_type_param(from, to),
            }
        }
        self.methods
            .iter_mut()
            .for_each(|m| m.rename_type_param(from, to));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::{CommandOverlay, ReplyWhen};

    fn cmd(name: &str, args: &str) -> Command {
        let text = format!(
            r#"{{"{name}": {{"group": "g", "since": "1.0.0", "summary": "s", "arity": -2,
                "arguments": {args}}}}}"#
        );
        let (n, s) = crate::spec::parse_file("t.json", &text).unwrap();
        crate::ir::command("t.json", &n, &s).unwrap()
    }

    fn ov(reply: &str) -> CommandOverlay {
        CommandOverlay {
            reply: reply.into(),
            ..Default::default()
        }
    }

    const SET: &str = r#"[{"name": "key", "type": "key"}, {"name": "value", "type": "string"},
        {"name": "condition", "type": "oneof", "optional": true, "arguments": [
            {"name": "nx", "type": "pure-token", "token": "NX"},
            {"name": "xx", "type": "pure-token", "token": "XX"},
            {"name": "comparison-value", "type": "string", "token": "IFEQ", "since": "8.1.0"}]},
        {"name": "get", "type": "pure-token", "token": "GET", "optional": true, "since": "6.2.0"},
        {"name": "expiration", "type": "oneof", "optional": true, "arguments": [
            {"name": "seconds", "type": "integer", "token": "EX"},
            {"name": "keepttl", "type": "pure-token", "token": "KEEPTTL"}]}]"#;

    #[test]
    fn set_has_two_parameters_and_a_method_per_option() {
        let mut o = ov("()");
        o.reply_when = vec![
            ReplyWhen {
                arg: "condition".into(),
                reply: "bool".into(),
            },
            ReplyWhen {
                arg: "get".into(),
                reply: "T".into(),
            },
        ];
        let b = builder(&cmd("SET", SET), &o, &BTreeMap::new()).unwrap();
        assert_eq!(b.fn_name, "set");
        assert_eq!(
            b.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["key", "value"]
        );
        let names: Vec<_> = b.methods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "nx",
                "xx",
                "ifeq",
                "get",
                "ex",
                "keepttl",
                "ex_opt",
                "keepttl_if"
            ]
        );
        // The three condition methods share one slot, so only one of them can be called.
        let cond: BTreeSet<_> = b.methods[..3]
            .iter()
            .map(|m| m.requires_unset.clone())
            .collect();
        assert_eq!(cond.len(), 1);
        assert_eq!(
            b.methods[2].sets[0].1,
            Part::Tokened(
                "IFEQ".into(),
                Box::new(Part::Param(
                    "comparison_value".into(),
                    Ty::Param("ComparisonValue".into())
                ))
            )
        );
        assert_eq!(b.methods[2].since, Some(Version(8, 1, 0)));
        assert_eq!(b.methods[0].reply, Some((1, "bool".into())));
        assert_eq!(b.methods[3].reply, Some((2, "T".into())));
        assert_eq!(b.output, Output::Leveled("()".into()));
        assert!(b.tracks_version);
        assert_eq!(
            b.writes,
            [
                Write::Slot(0),
                Write::Slot(1),
                Write::Slot(2),
                Write::Slot(3),
                Write::Slot(4)
            ]
        );
    }

    #[test]
    fn simple_options_get_a_run_time_form() {
        let b = builder(&cmd("SET", SET), &ov("()"), &BTreeMap::new()).unwrap();
        let names: Vec<_> = b.methods.iter().map(|m| m.name.as_str()).collect();
        for form in [
            "nx_if",
            "xx_if",
            "ifeq_opt",
            "get_if",
            "ex_opt",
            "keepttl_if",
        ] {
            assert!(names.contains(&form), "{form}: {names:?}");
        }
        let ex = b.methods.iter().find(|m| m.name == "ex_opt").unwrap();
        assert_eq!(ex.params[0].ty, Ty::Option(Box::new(Ty::I64)));
        assert_eq!(
            ex.sets[0].1,
            Part::OptionOf(
                "seconds".into(),
                Box::new(Part::Tokened(
                    "EX".into(),
                    Box::new(Part::Param("seconds".into(), Ty::I64))
                ))
            )
        );
        assert_eq!(
            ex.run_time_of,
            Some(RunTimeOf {
                method: "ex".into(),
                param: "seconds".into(),
                option: true
            })
        );
        // An option that changes the reply has none (its reply type would be a guess).
        let mut o = ov("()");
        o.reply_when = vec![ReplyWhen {
            arg: "get".into(),
            reply: "T".into(),
        }];
        let b = builder(&cmd("SET", SET), &o, &BTreeMap::new()).unwrap();
        assert!(!b.methods.iter().any(|m| m.name == "get_if"));
    }

    #[test]
    fn an_option_fixing_a_callers_reply_pins_t() {
        let c = cmd(
            "SORT",
            r#"[{"name": "key", "type": "key"},
               {"name": "destination", "type": "key", "token": "STORE", "optional": true}]"#,
        );
        let mut o = ov("T");
        o.reply_when = vec![ReplyWhen {
            arg: "destination".into(),
            reply: "i64".into(),
        }];
        let b = builder(&c, &o, &BTreeMap::new()).unwrap();
        assert_eq!(b.output, Output::User("T".into()));
        assert_eq!(b.methods[0].pins_t.as_deref(), Some("i64"));
        assert_eq!(b.methods[0].reply, None);
    }

    #[test]
    fn counts_are_computed_from_the_counted_slot() {
        let c = cmd(
            "HEXPIRE",
            r#"[{"name": "key", "type": "key"}, {"name": "seconds", "type": "integer"},
               {"name": "fields", "type": "block", "token": "FIELDS", "arguments": [
                 {"name": "numfields", "type": "integer"},
                 {"name": "field", "type": "string", "multiple": true}]}]"#,
        );
        let mut o = ov("Vec<i64>");
        o.counts
            .insert("fields/numfields".into(), "fields/field".into());
        let b = builder(&c, &o, &BTreeMap::new()).unwrap();
        assert_eq!(
            b.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["key", "seconds", "field"]
        );
        assert_eq!(
            b.writes,
            [
                Write::Slot(0),
                Write::Slot(1),
                Write::Const("FIELDS".into()),
                Write::Count { slot: 2, width: 1 },
                Write::Slot(2)
            ]
        );
        // Counted values are single values, each counted once (not a map's pairs).
        assert_eq!(
            b.generics.last().unwrap().bound,
            Bound::Elements(ElementShape::One(ElementKind::Arg))
        );
    }

    #[test]
    fn required_oneof_is_an_enum_parameter_and_shared_enums_are_named_once() {
        let c = cmd(
            "LMOVE",
            r#"[{"name": "source", "type": "key"},
               {"name": "wherefrom", "type": "oneof", "arguments": [
                 {"name": "left", "type": "pure-token", "token": "LEFT"},
                 {"name": "right", "type": "pure-token", "token": "RIGHT"}]}]"#,
        );
        let b = builder(&c, &ov("T"), &BTreeMap::new()).unwrap();
        assert_eq!(b.params[1].ty, Ty::Named("LmoveWherefrom".into()));
        let mut enums = BTreeMap::new();
        enums.insert("LEFT RIGHT".to_string(), "Side".to_string());
        let b = builder(&c, &ov("T"), &enums).unwrap();
        assert_eq!(b.params[1].ty, Ty::Named("Side".into()));
        assert!(b.owned[0].shared);
        assert_eq!(b.output, Output::User("T".into()));
    }

    #[test]
    fn optional_block_with_optional_parts_gets_a_presence_marker() {
        let c = cmd(
            "GEORADIUS",
            r#"[{"name": "key", "type": "key"},
               {"name": "count-block", "type": "block", "optional": true, "arguments": [
                 {"name": "count", "type": "integer", "token": "COUNT"},
                 {"name": "any", "type": "pure-token", "token": "ANY", "optional": true,
                  "since": "6.2.0"}]}]"#,
        );
        let b = builder(&c, &ov("T"), &BTreeMap::new()).unwrap();
        let count = &b.methods[0];
        let any = &b.methods[1];
        assert_eq!((count.name.as_str(), any.name.as_str()), ("count", "any"));
        let presence = count.sets[0].0;
        assert!(matches!(b.slots[presence].kind, SlotKind::Presence(_)));
        assert_eq!(any.requires_present, [presence]);
        assert!(count.requires_unset.contains(&presence));
        assert_eq!(any.since, Some(Version(6, 2, 0)));
        // The marker is not written.
        assert!(!b.writes.contains(&Write::Slot(presence)));
    }

    #[test]
    fn simple_optional_block_is_one_method() {
        let c = cmd(
            "ZRANGE",
            r#"[{"name": "key", "type": "key"},
               {"name": "limit", "type": "block", "token": "LIMIT", "optional": true, "arguments": [
                 {"name": "offset", "type": "integer"}, {"name": "count", "type": "integer"}]}]"#,
        );
        let b = builder(&c, &ov("T"), &BTreeMap::new()).unwrap();
        assert_eq!(b.methods.len(), 1);
        assert_eq!(b.methods[0].name, "limit");
        assert_eq!(
            b.methods[0].sets[0].1,
            Part::Group(vec![
                Part::Tok("LIMIT".into()),
                Part::Param("offset".into(), Ty::I64),
                Part::Param("count".into(), Ty::I64)
            ])
        );
        assert!(b.methods[0].since.is_none());
    }

    #[test]
    fn repeated_plain_groups_are_typed_by_their_shape() {
        let c = cmd(
            "ZADD",
            r#"[{"name": "key", "type": "key"},
               {"name": "data", "type": "block", "multiple": true, "arguments": [
                 {"name": "score", "type": "double"}, {"name": "member", "type": "string"}]},
               {"name": "ids", "type": "integer", "multiple": true},
               {"name": "members", "type": "string", "multiple": true}]"#,
        );
        let b = builder(&c, &ov("i64"), &BTreeMap::new()).unwrap();
        assert_eq!(
            b.generics[1].bound,
            Bound::Elements(ElementShape::Tuple(vec![
                ElementKind::Number,
                ElementKind::Arg
            ]))
        );
        // Repeated numbers take numbers; other repeated values any number of arguments.
        assert_eq!(
            b.generics[2].bound,
            Bound::Elements(ElementShape::One(ElementKind::Integer))
        );
        assert_eq!(b.generics[3].bound, Bound::Many);
    }

    #[test]
    fn a_split_oneof_is_one_slot_per_group_with_exclusions_across() {
        let c = cmd(
            "EXPIRE",
            r#"[{"name": "key", "type": "key"},
               {"name": "condition", "type": "oneof", "optional": true, "arguments": [
                 {"name": "nx", "type": "pure-token", "token": "NX"},
                 {"name": "xx", "type": "pure-token", "token": "XX"},
                 {"name": "gt", "type": "pure-token", "token": "GT"},
                 {"name": "lt", "type": "pure-token", "token": "LT"}]}]"#,
        );
        let mut o = ov("bool");
        o.split.insert(
            "condition".into(),
            [
                ("condition".to_string(), vec!["nx".to_string(), "xx".into()]),
                (
                    "comparison".to_string(),
                    vec!["gt".to_string(), "lt".into()],
                ),
            ]
            .into(),
        );
        o.exclusive = vec![
            ["condition/nx".into(), "condition/gt".into()],
            ["condition/nx".into(), "condition/lt".into()],
        ];
        let b = builder(&c, &o, &BTreeMap::new()).unwrap();
        // Slots in the order of each group's first choice: NX|XX, then GT|LT.
        let fields: Vec<_> = b.slots.iter().map(|s| s.field.as_str()).collect();
        assert_eq!(fields, ["key", "condition", "comparison"]);
        let m = |n: &str| b.methods.iter().find(|m| m.name == n).unwrap();
        assert_eq!(m("nx").requires_unset, [1]);
        assert_eq!(m("gt").requires_unset, [2]);
        // NX excludes the comparison slot (once, whatever the number of pairs naming it)...
        assert_eq!(m("nx").requires_combinable, [2]);
        assert_eq!(
            m("nx").sets[0].1,
            Part::Sole(Box::new(Part::Tok("NX".into())))
        );
        assert_eq!(m("gt").requires_combinable, [1]);
        // ...and XX excludes nothing.
        assert!(m("xx").requires_combinable.is_empty());
        assert_eq!(
            m("gt").choice_group,
            Some((
                "comparison".into(),
                vec!["condition/gt".into(), "condition/lt".into()]
            ))
        );
        // Exclusive options keep their run-time form.
        assert_eq!(m("nx_if").requires_combinable, [2]);
    }

    #[test]
    fn a_oneof_given_by_methods_is_required_and_choices_can_need_options() {
        let c = cmd(
            "GEOSEARCH",
            r#"[{"name": "key", "type": "key"},
               {"name": "from", "type": "oneof", "optional": true, "arguments": [
                 {"name": "member", "type": "string", "token": "FROMMEMBER"}]},
               {"name": "by", "type": "oneof", "arguments": [
                 {"name": "radius", "type": "double", "token": "BYRADIUS"},
                 {"name": "polygon", "type": "integer", "token": "BYPOLYGON"}]}]"#,
        );
        let mut o = ov("T");
        o.oneof_methods = vec!["by".into()];
        o.needs.insert("by/radius".into(), "from".into());
        o.exclusive = vec![["by/polygon".into(), "from".into()]];
        let b = builder(&c, &o, &BTreeMap::new()).unwrap();
        assert_eq!(b.params.len(), 1);
        assert_eq!(b.required_slots, [2]);
        let m = |n: &str| b.methods.iter().find(|m| m.name == n).unwrap();
        assert_eq!(m("byradius").requires_filled, [1]);
        assert_eq!(m("bypolygon").requires_combinable, [1]);
        // A required choice has no run-time form (leaving it out would not be a command).
        assert!(!b.methods.iter().any(|m| m.name == "byradius_opt"));
    }

    #[test]
    fn type_parameters_carry_no_collision_numbers() {
        // The option's state and the value its method takes both want `Pattern`.
        let c = cmd(
            "X",
            r#"[{"name": "pattern", "type": "pattern", "token": "MATCH", "optional": true}]"#,
        );
        let b = builder(&c, &ov("i64"), &BTreeMap::new()).unwrap();
        let state: Vec<_> = b
            .slots
            .iter()
            .filter_map(|s| match &s.kind {
                SlotKind::State(n) => Some(n.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(state, ["Pattern"]);
        let m = b.methods.iter().find(|m| m.name == "pattern").unwrap();
        assert_eq!(m.generics[0].name, "PatternValue");
        assert_eq!(m.params[0].ty, Ty::Param("PatternValue".into()));
        assert_eq!(
            m.sets[0].1,
            Part::Tokened(
                "MATCH".into(),
                Box::new(Part::Param(
                    "pattern".into(),
                    Ty::Param("PatternValue".into())
                ))
            )
        );
    }

    #[test]
    fn clashing_method_names_are_errors_the_overlay_fixes() {
        let c = cmd(
            "X",
            r#"[{"name": "a", "type": "integer", "token": "COUNT", "optional": true},
               {"name": "b", "type": "integer", "token": "COUNT", "optional": true}]"#,
        );
        let e = builder(&c, &ov("i64"), &BTreeMap::new()).unwrap_err();
        assert!(e.contains("two methods named count"), "{e}");
        let mut o = ov("i64");
        o.names.insert("b".into(), "count_b".into());
        assert!(builder(&c, &o, &BTreeMap::new()).is_ok());
    }
}
