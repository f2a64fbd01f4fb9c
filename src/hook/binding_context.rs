//! The binding context shell-operator hands a run (`BINDING_CONTEXT_PATH`): which controllers to run, and the
//! cached objects (snapshots) they may use instead of a LIST.
//!
//! Real binding contexts vary (see `shared/reference/shell-operator.md`): several queued runs merged into one
//! array, elements without `type`, `Synchronization`/`Event` elements of watch bindings, `snapshots` absent, `{}`
//! or with items that have only `filterResult`. Everything malformed is an error naming the file, the element
//! and the field, before anything is written.
//!
//! The file of a 50,000-container cluster is ~50 MB: it is streamed, and each snapshot item is decoded straight
//! into its typed object, so no JSON tree of the document (several times its size) ever exists. Two passes share
//! one parser:
//! - the fast pass decodes items straight from the stream and gives up at the first thing that is not a clean,
//!   usable context (it cannot resume a stream after a decoding error);
//! - only then, the exact pass reads the file again, one item at a time as a JSON value, and reports what is
//!   wrong with the precedence the checks have always had: invalid JSON, then the first malformed element, then
//!   the newest taint-nodes snapshots, then the newest resize-pods snapshots. Problems in runs superseded by a
//!   newer one of the same controller are ignored, as those snapshots are never used.
//!
//! The fast pass succeeds only where the exact one would succeed with the same objects, so decisions never
//! depend on which pass read the file.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::marker::PhantomData;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::core::v1::{Namespace, Node};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::config::binding;
use crate::model::pod::Pod;

/// What one hook run has to do.
#[derive(Debug, Default)]
pub struct HookRun {
    /// Controllers to run, each once even when several runs were merged.
    pub taint_nodes: Option<Snapshots>,
    pub resize_pods: Option<Snapshots>,
    /// Elements that asked for no work, as `binding (type)`, for the log.
    pub skipped: Vec<String>,
}

/// Cached objects from shell-operator. `None` means "not passed": the tick reads that kind with a LIST.
#[derive(Debug, Default)]
pub struct Snapshots {
    pub nodes: Option<Vec<Node>>,
    pub pods: Option<Vec<Pod>>,
    pub namespaces: Option<Vec<Namespace>>,
}

/// Reads and checks the binding context file, streaming it (see the module docs).
pub fn read(path: &Path) -> Result<HookRun> {
    let open = || {
        File::open(path)
            .map(BufReader::new)
            .with_context(|| format!("reading binding context {}", path.display()))
    };
    let failure = |error: Failure| match error {
        Failure::Io(error) => {
            anyhow!(error).context(format!("reading binding context {}", path.display()))
        }
        Failure::Invalid(error) => error.context(format!("binding context {}", path.display())),
    };
    if let Ok(run) = decode(
        &mut serde_json::Deserializer::from_reader(open()?),
        Pass::Fast,
    ) {
        return Ok(run);
    }
    decode(
        &mut serde_json::Deserializer::from_reader(open()?),
        Pass::Exact,
    )
    .map_err(failure)
}

/// Parses a binding context. Merged runs of one controller collapse to one run with the newest snapshots.
pub fn parse(text: &[u8]) -> Result<HookRun> {
    if let Ok(run) = decode(&mut serde_json::Deserializer::from_slice(text), Pass::Fast) {
        return Ok(run);
    }
    decode(&mut serde_json::Deserializer::from_slice(text), Pass::Exact).map_err(
        |error| match error {
            Failure::Io(error) => anyhow!(error).context("reading"),
            Failure::Invalid(error) => error,
        },
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Decodes items straight from the stream; any problem is a serde error that ends the pass.
    Fast,
    /// Decodes items one JSON value at a time and reports problems as the checks always have.
    Exact,
}

enum Failure {
    /// The file could not be read to its end.
    Io(serde_json::Error),
    Invalid(anyhow::Error),
}

/// A problem found while streaming, reported only if it matters once the whole document is read (a malformed
/// snapshot of a superseded run does not, and invalid JSON later in the file takes precedence).
type Deferred<T> = std::result::Result<T, String>;

/// The kind of a JSON value, for messages: "found an object".
type Kind = &'static str;

fn decode<'de, R: serde_json::de::Read<'de>>(
    deserializer: &mut serde_json::Deserializer<R>,
    pass: Pass,
) -> std::result::Result<HookRun, Failure> {
    let syntax = |error: serde_json::Error| {
        if error.is_io() {
            Failure::Io(error)
        } else {
            Failure::Invalid(anyhow!(error).context("not JSON"))
        }
    };
    let document = DocumentSeed { pass }
        .deserialize(&mut *deserializer)
        .map_err(syntax)?;
    deserializer.end().map_err(syntax)?;
    document.into_run().map_err(Failure::Invalid)
}

/// What the whole array came to: the newest run of each controller, and the first malformed element.
#[derive(Default)]
struct Document {
    not_an_array: Option<Kind>,
    first_malformed: Option<String>,
    newest_taint: Option<(usize, String, SnapshotsField)>,
    newest_resize: Option<(usize, String, SnapshotsField)>,
    skipped: Vec<String>,
}

impl Document {
    fn into_run(self) -> Result<HookRun> {
        if let Some(kind) = self.not_an_array {
            return Err(anyhow!(
                "must be a JSON array of binding contexts, found {kind}"
            ));
        }
        if let Some(message) = self.first_malformed {
            return Err(anyhow!(message));
        }
        let mut run = HookRun {
            skipped: self.skipped,
            ..HookRun::default()
        };
        if let Some((index, name, field)) = self.newest_taint {
            run.taint_nodes = Some(field.into_snapshots(index, &name)?);
        }
        if let Some((index, name, field)) = self.newest_resize {
            run.resize_pods = Some(field.into_snapshots(index, &name)?);
        }
        Ok(run)
    }

    /// Files one element, in order: the first malformed one is the error; a newer run of a controller drops the
    /// older one's objects.
    fn add(&mut self, index: usize, shape: ElementShape) {
        if self.first_malformed.is_some() {
            return;
        }
        let element = match shape {
            ElementShape::Other(kind) => {
                self.first_malformed =
                    Some(format!("element {index}: must be an object, found {kind}"));
                return;
            }
            ElementShape::Object(element) => element,
        };
        let name = match element.binding {
            Some(Ok(name)) => name,
            Some(Err(kind)) => {
                self.first_malformed = Some(format!(
                    "element {index}: \"binding\" must be a string, found {kind}"
                ));
                return;
            }
            None => {
                self.first_malformed = Some(format!("element {index}: has no \"binding\" field"));
                return;
            }
        };
        let context_type = match element.context_type {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(t))) => Some(t),
            Some(Err(kind)) => {
                self.first_malformed = Some(format!(
                    "element {index} (binding {name}): \"type\" must be a string, found {kind}"
                ));
                return;
            }
        };
        // The newest element of each controller wins: shell-operator appends newer runs at the end.
        match controller_run(&name, context_type.as_deref()) {
            Some(Controller::TaintNodes) => {
                self.newest_taint = Some((index, name, element.snapshots))
            }
            Some(Controller::ResizePods) => {
                self.newest_resize = Some((index, name, element.snapshots))
            }
            None => self.skipped.push(format!(
                "{name} ({})",
                context_type.as_deref().unwrap_or("no type")
            )),
        }
    }

    fn has_error(&self) -> bool {
        self.not_an_array.is_some() || self.first_malformed.is_some()
    }
}

enum Controller {
    TaintNodes,
    ResizePods,
}

/// Which controller an element runs, if any: schedule runs (or group runs) of our two bindings.
fn controller_run(name: &str, context_type: Option<&str>) -> Option<Controller> {
    match (name, context_type) {
        (binding::TAINT_NODES, None | Some("Schedule" | "Group")) => Some(Controller::TaintNodes),
        (binding::RESIZE_PODS, None | Some("Schedule" | "Group")) => Some(Controller::ResizePods),
        _ => None,
    }
}

enum ElementShape {
    Object(Element),
    Other(Kind),
}

#[derive(Default)]
struct Element {
    binding: Option<std::result::Result<String, Kind>>,
    context_type: Option<std::result::Result<Option<String>, Kind>>,
    snapshots: SnapshotsField,
}

impl Element {
    /// Whether this element may still turn out to run a controller, from the fields read so far.
    fn may_run(&self) -> bool {
        let type_may_run = match &self.context_type {
            None | Some(Ok(None)) => true,
            Some(Ok(Some(t))) => matches!(t.as_str(), "Schedule" | "Group"),
            Some(Err(_)) => false,
        };
        let binding_may_run = match &self.binding {
            None => true,
            Some(Ok(name)) => name == binding::TAINT_NODES || name == binding::RESIZE_PODS,
            Some(Err(_)) => false,
        };
        type_may_run && binding_may_run
    }
}

#[derive(Default)]
enum SnapshotsField {
    /// Absent or null: nothing passed, every kind is read with a LIST.
    #[default]
    Absent,
    NotAnObject(Kind),
    Objects(SnapshotSet),
}

impl SnapshotsField {
    fn into_snapshots(self, index: usize, name: &str) -> Result<Snapshots> {
        let where_ = || format!("element {index} (binding {name})");
        match self {
            SnapshotsField::Absent => Ok(Snapshots::default()),
            SnapshotsField::NotAnObject(kind) => Err(anyhow!(
                "{}: \"snapshots\" must be an object, found {kind}",
                where_()
            )),
            SnapshotsField::Objects(set) => Ok(Snapshots {
                nodes: set.nodes.map_err(|e| anyhow!(e)).with_context(where_)?,
                pods: set.pods.map_err(|e| anyhow!(e)).with_context(where_)?,
                namespaces: set
                    .namespaces
                    .map_err(|e| anyhow!(e))
                    .with_context(where_)?,
            }),
        }
    }

    fn is_ok(&self) -> bool {
        match self {
            SnapshotsField::Absent => true,
            SnapshotsField::NotAnObject(_) => false,
            SnapshotsField::Objects(set) => {
                set.nodes.is_ok() && set.pods.is_ok() && set.namespaces.is_ok()
            }
        }
    }
}

/// Snapshots of bindings we do not know are ignored: a newer config may pass more than this version reads.
struct SnapshotSet {
    nodes: Deferred<Option<Vec<Node>>>,
    pods: Deferred<Option<Vec<Pod>>>,
    namespaces: Deferred<Option<Vec<Namespace>>>,
}

impl Default for SnapshotSet {
    fn default() -> Self {
        SnapshotSet {
            nodes: Ok(None),
            pods: Ok(None),
            namespaces: Ok(None),
        }
    }
}

/// Ends the fast pass: the exact one will say what is wrong.
fn give_up<E: de::Error>() -> E {
    E::custom("not a clean binding context: read again exactly")
}

// ---- Visitors: one per level of the document -------------------------------------------------------------
//
// Every level accepts any JSON value (`deserialize_any`) and turns a wrong kind into a deferred problem, so the
// exact pass reads on to the end of the file (invalid JSON there takes precedence) without a JSON tree.

/// The scalar `visit_*` methods of a visitor, each handing the value's kind to `self.other(kind)`.
macro_rules! scalars_are_other_kinds {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
            self.other("a boolean")
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
            self.other("a number")
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
            self.other("a number")
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
            self.other("a number")
        }
        fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Self::Value, E> {
            self.other("a string")
        }
    };
}

macro_rules! null_is_other_kind {
    () => {
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            self.other("null")
        }
    };
}

macro_rules! arrays_are_other_kinds {
    () => {
        fn visit_seq<A: SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            self.other("an array")
        }
    };
}

macro_rules! objects_are_other_kinds {
    () => {
        fn visit_map<A: MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            self.other("an object")
        }
    };
}

struct DocumentSeed {
    pass: Pass,
}

impl DocumentSeed {
    fn other<E: de::Error>(self, kind: Kind) -> std::result::Result<Document, E> {
        if self.pass == Pass::Fast {
            return Err(give_up());
        }
        Ok(Document {
            not_an_array: Some(kind),
            ..Document::default()
        })
    }
}

impl<'de> DeserializeSeed<'de> for DocumentSeed {
    type Value = Document;
    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Document, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed {
    type Value = Document;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of binding contexts")
    }
    scalars_are_other_kinds!();
    null_is_other_kind!();
    objects_are_other_kinds!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Document, A::Error> {
        let mut document = Document::default();
        let mut index = 0;
        loop {
            let seed = ElementSeed {
                pass: self.pass,
                // Once an element is malformed only JSON errors can still matter: skip decoding.
                decode: !document.has_error(),
            };
            let Some(shape) = seq.next_element_seed(seed)? else {
                break;
            };
            document.add(index, shape);
            if self.pass == Pass::Fast && document.has_error() {
                return Err(give_up());
            }
            index += 1;
        }
        if self.pass == Pass::Fast {
            let clean = |run: &Option<(usize, String, SnapshotsField)>| {
                run.as_ref().is_none_or(|(_, _, field)| field.is_ok())
            };
            if !clean(&document.newest_taint) || !clean(&document.newest_resize) {
                return Err(give_up());
            }
        }
        Ok(document)
    }
}

struct ElementSeed {
    pass: Pass,
    decode: bool,
}

impl ElementSeed {
    fn other<E: de::Error>(self, kind: Kind) -> std::result::Result<ElementShape, E> {
        Ok(ElementShape::Other(kind))
    }
}

impl<'de> DeserializeSeed<'de> for ElementSeed {
    type Value = ElementShape;
    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<ElementShape, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed {
    type Value = ElementShape;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a binding context object")
    }
    scalars_are_other_kinds!();
    null_is_other_kind!();
    arrays_are_other_kinds!();

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<ElementShape, A::Error> {
        let mut element = Element::default();
        let mut seen_snapshots = false;
        while let Some(key) = map.next_key::<String>()? {
            // A repeated key's last value counts; the fast pass may have skipped snapshots on an earlier one.
            let repeated = match key.as_str() {
                "binding" => element.binding.is_some(),
                "type" => element.context_type.is_some(),
                "snapshots" => seen_snapshots,
                _ => false,
            };
            if repeated && self.pass == Pass::Fast {
                return Err(give_up());
            }
            match key.as_str() {
                "binding" => element.binding = Some(map.next_value_seed(StringField)?),
                "type" => element.context_type = Some(map.next_value_seed(OptionalStringField)?),
                "snapshots" => {
                    seen_snapshots = true;
                    // Snapshots of an element that will not run are never used: the fast pass skips them
                    // when `binding` or `type` came first and say so.
                    let wanted = self.decode && (self.pass == Pass::Exact || element.may_run());
                    element.snapshots = if wanted {
                        map.next_value_seed(SnapshotsSeed { pass: self.pass })?
                    } else {
                        map.next_value::<IgnoredAny>()?;
                        SnapshotsField::Absent
                    };
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ElementShape::Object(element))
    }
}

/// A string, or the kind of whatever else is there.
struct StringField;

impl StringField {
    fn other<E: de::Error>(
        self,
        kind: Kind,
    ) -> std::result::Result<std::result::Result<String, Kind>, E> {
        Ok(Err(kind))
    }
}

impl<'de> DeserializeSeed<'de> for StringField {
    type Value = std::result::Result<String, Kind>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringField {
    type Value = std::result::Result<String, Kind>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
        self.other("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
        self.other("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
        self.other("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
        self.other("a number")
    }
    fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<Self::Value, E> {
        Ok(Ok(text.to_owned()))
    }
    null_is_other_kind!();
    arrays_are_other_kinds!();
    objects_are_other_kinds!();
}

/// A string, null (absent), or the kind of whatever else is there.
struct OptionalStringField;

impl<'de> DeserializeSeed<'de> for OptionalStringField {
    type Value = std::result::Result<Option<String>, Kind>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for OptionalStringField {
    type Value = std::result::Result<Option<String>, Kind>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(Ok(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Self::Value, A::Error> {
        StringField.visit_seq(seq).map(|r| r.map(Some))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Self::Value, A::Error> {
        StringField.visit_map(map).map(|r| r.map(Some))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Self::Value, E> {
        StringField.visit_bool(v).map(|r| r.map(Some))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
        StringField.visit_i64(v).map(|r| r.map(Some))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
        StringField.visit_u64(v).map(|r| r.map(Some))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
        StringField.visit_f64(v).map(|r| r.map(Some))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        StringField.visit_str(v).map(|r| r.map(Some))
    }
}

/// The `snapshots` object of an element.
struct SnapshotsSeed {
    pass: Pass,
}

impl SnapshotsSeed {
    fn other<E: de::Error>(self, kind: Kind) -> std::result::Result<SnapshotsField, E> {
        Ok(SnapshotsField::NotAnObject(kind))
    }
}

impl<'de> DeserializeSeed<'de> for SnapshotsSeed {
    type Value = SnapshotsField;
    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<SnapshotsField, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SnapshotsSeed {
    type Value = SnapshotsField;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("snapshots by binding name")
    }
    scalars_are_other_kinds!();
    arrays_are_other_kinds!();
    fn visit_unit<E: de::Error>(self) -> std::result::Result<SnapshotsField, E> {
        Ok(SnapshotsField::Absent)
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<SnapshotsField, A::Error> {
        let mut set = SnapshotSet::default();
        while let Some(key) = map.next_key::<String>()? {
            let pass = self.pass;
            match key.as_str() {
                binding::NODES => {
                    set.nodes = map.next_value_seed(ObjectsSeed::new(binding::NODES, pass))?
                }
                binding::PODS => {
                    set.pods = map.next_value_seed(ObjectsSeed::new(binding::PODS, pass))?
                }
                binding::NAMESPACES => {
                    set.namespaces =
                        map.next_value_seed(ObjectsSeed::new(binding::NAMESPACES, pass))?
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(SnapshotsField::Objects(set))
    }
}

/// One snapshot: an array of items, each decoded from its `filterResult` (our jqFilter keeps the object's
/// shape) or else its `object`.
struct ObjectsSeed<T> {
    name: &'static str,
    pass: Pass,
    objects: PhantomData<T>,
}

impl<T> ObjectsSeed<T> {
    fn new(name: &'static str, pass: Pass) -> Self {
        ObjectsSeed {
            name,
            pass,
            objects: PhantomData,
        }
    }

    fn other<E: de::Error>(self, kind: Kind) -> std::result::Result<Deferred<Option<Vec<T>>>, E> {
        Ok(Err(format!(
            "snapshots.{}: must be an array, found {kind}",
            self.name
        )))
    }
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for ObjectsSeed<T> {
    type Value = Deferred<Option<Vec<T>>>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for ObjectsSeed<T> {
    type Value = Deferred<Option<Vec<T>>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of snapshot items")
    }
    scalars_are_other_kinds!();
    objects_are_other_kinds!();
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(Ok(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut decoded = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let mut index = 0;
        while let Some(item) = seq.next_element_seed(ItemSeed::<T> {
            name: self.name,
            index,
            pass: self.pass,
            object: PhantomData,
        })? {
            match item {
                Ok(object) => decoded.push(object),
                Err(problem) => {
                    drop(decoded);
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    return Ok(Err(problem));
                }
            }
            index += 1;
        }
        // The list grew by doubling: give back up to half of it (tens of MB for 36,000 pods).
        decoded.shrink_to_fit();
        Ok(Ok(Some(decoded)))
    }
}

/// One snapshot item.
struct ItemSeed<T> {
    name: &'static str,
    index: usize,
    pass: Pass,
    object: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for ItemSeed<T> {
    type Value = Deferred<T>;
    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> std::result::Result<Deferred<T>, D::Error> {
        match self.pass {
            Pass::Fast => deserializer.deserialize_any(self),
            Pass::Exact => {
                let item = Value::deserialize(deserializer)?;
                Ok(exact_item(&item, self.name, self.index))
            }
        }
    }
}

/// The fast pass: an item object whose `filterResult` or `object` decodes straight into `T`.
impl<'de, T: DeserializeOwned> Visitor<'de> for ItemSeed<T> {
    type Value = Deferred<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a snapshot item")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Deferred<T>, A::Error> {
        let mut filter_result: Option<Option<T>> = None;
        let mut object: Option<Option<T>> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "filterResult" if filter_result.is_none() => {
                    filter_result = Some(map.next_value::<Option<T>>()?)
                }
                // `filterResult` wins when not null: no need to decode the full object then.
                "object" if object.is_none() && !matches!(filter_result, Some(Some(_))) => {
                    object = Some(map.next_value::<Option<T>>()?)
                }
                "object" if object.is_none() => {
                    map.next_value::<IgnoredAny>()?;
                    object = Some(None);
                }
                "filterResult" | "object" => return Err(give_up()),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match (filter_result.flatten(), object.flatten()) {
            (Some(result), _) => Ok(Ok(result)),
            (None, Some(object)) => Ok(Ok(object)),
            (None, None) => Err(give_up()),
        }
    }
}

/// The exact pass: which field of the item is used, and what is wrong with it, named down to the field path.
fn exact_item<T: DeserializeOwned>(item: &Value, name: &str, i: usize) -> Deferred<T> {
    let (field, object) = match (item.get("filterResult"), item.get("object")) {
        (Some(result), _) if !result.is_null() => ("filterResult", result),
        (_, Some(object)) if !object.is_null() => ("object", object),
        _ if item.is_object() => {
            return Err(format!(
                "snapshots.{name}[{i}]: has neither \"filterResult\" nor \"object\" (is the jqFilter ours?)"
            ));
        }
        _ => {
            return Err(format!(
                "snapshots.{name}[{i}]: must be an object, found {}",
                kind_of(item)
            ));
        }
    };
    serde_path_to_error::deserialize(object)
        .map_err(|e| format!("snapshots.{name}[{i}].{field}.{}: {}", e.path(), e.inner()))
}

fn kind_of(value: &Value) -> Kind {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<HookRun> {
        parse(text.as_bytes())
    }

    #[test]
    fn schedule_without_snapshots_asks_for_a_list() {
        let run = parse_str(r#"[{"binding":"taint-nodes","type":"Schedule"}]"#).unwrap();
        let snapshots = run.taint_nodes.unwrap();
        assert!(snapshots.nodes.is_none());
        assert!(run.resize_pods.is_none());
    }

    #[test]
    fn merged_runs_of_one_binding_run_once_with_the_newest_snapshot() {
        let text = r#"[
          {"binding":"taint-nodes","type":"Schedule","snapshots":{"nodes":[{"filterResult":{"metadata":{"name":"old"}}}]}},
          {"binding":"taint-nodes","type":"Schedule","snapshots":{"nodes":[{"filterResult":{"metadata":{"name":"new"}}}]}}
        ]"#;
        let nodes = parse_str(text).unwrap().taint_nodes.unwrap().nodes.unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].metadata.name.as_deref(), Some("new"));
    }

    #[test]
    fn elements_for_other_bindings_are_skipped_not_fatal() {
        let text = r#"[{"binding":"onStartup"},{"binding":"nodes","type":"Synchronization","objects":[]},
                      {"binding":"beforeAll"},{"binding":"resize-pods"}]"#;
        let run = parse_str(text).unwrap();
        assert!(run.resize_pods.is_some());
        assert_eq!(
            run.skipped,
            [
                "onStartup (no type)",
                "nodes (Synchronization)",
                "beforeAll (no type)"
            ]
        );
    }

    #[test]
    fn an_empty_snapshot_is_an_empty_cluster_not_a_missing_one() {
        let run =
            parse_str(r#"[{"binding":"resize-pods","type":"Schedule","snapshots":{"pods":[]}}]"#)
                .unwrap();
        let snapshots = run.resize_pods.unwrap();
        assert_eq!(snapshots.pods.map(|p| p.len()), Some(0));
        assert!(snapshots.nodes.is_none());
    }

    #[test]
    fn object_is_used_when_there_is_no_filter_result() {
        let text = r#"[{"binding":"taint-nodes","type":"Schedule",
                        "snapshots":{"nodes":[{"object":{"metadata":{"name":"n1"}},"filterResult":null}]}}]"#;
        let nodes = parse_str(text).unwrap().taint_nodes.unwrap().nodes.unwrap();
        assert_eq!(nodes[0].metadata.name.as_deref(), Some("n1"));
    }

    #[test]
    fn real_shapes_are_accepted_tabs_key_order_groups_and_filter_result_only_items() {
        // As shell-operator writes them: TAB-indented, `snapshots` before `binding`, a Group element, items
        // with only `filterResult` (keepFullObjectsInMemory: false), an Event with `object: null`.
        let text = "[\n\t{\n\t\t\"snapshots\": {\"nodes\": [{\"filterResult\": {\"metadata\": {\"name\": \"n1\"}}}]},\n\t\t\"binding\": \"taint-nodes\",\n\t\t\"type\": \"Group\",\n\t\t\"groupName\": \"g\"\n\t},\n\t{\"binding\": \"pods\", \"type\": \"Event\", \"watchEvent\": \"Deleted\", \"object\": null, \"filterResult\": \"\"}\n]";
        let run = parse_str(text).unwrap();
        assert_eq!(
            run.taint_nodes.unwrap().nodes.unwrap()[0]
                .metadata
                .name
                .as_deref(),
            Some("n1")
        );
        assert_eq!(run.skipped, ["pods (Event)"]);
    }

    /// Cases around every rule of the reference: key orders, repeated keys, superseded runs, wrong kinds at each
    /// level, errors in skipped elements, and errors on both sides of a malformed element.
    #[test]
    fn the_streamed_parser_agrees_with_the_tree_parser() {
        let good_node = r#"{"filterResult":{"metadata":{"name":"n1"}}}"#;
        let bad_node = r#"{"filterResult":{"spec":{"taints":7}}}"#;
        let good_pod = r#"{"object":{"metadata":{"name":"p1"}},"filterResult":{"metadata":{"name":"p2"},"spec":{"containers":[{"name":"c"}]}}}"#;
        let object_first_bad =
            r#"{"object":{"spec":{"containers":7}},"filterResult":{"metadata":{"name":"p3"}}}"#;
        let elements = [
            format!(r#"{{"binding":"taint-nodes","type":"Schedule","snapshots":{{"nodes":[{good_node}]}}}}"#),
            format!(r#"{{"snapshots":{{"nodes":[{bad_node}]}},"binding":"taint-nodes","type":"Schedule"}}"#),
            format!(r#"{{"binding":"taint-nodes","snapshots":{{"nodes":[{good_node}]}},"type":"Event"}}"#),
            format!(r#"{{"binding":"resize-pods","snapshots":{{"pods":[{good_pod},{object_first_bad}],"namespaces":null,"other":[1]}}}}"#),
            format!(r#"{{"binding":"resize-pods","type":"Group","snapshots":{{"pods":[{bad_node}],"nodes":{{}}}}}}"#),
            format!(r#"{{"binding":"nodes","type":"Synchronization","snapshots":{{"nodes":[{bad_node}]}},"objects":[{good_node}]}}"#),
            format!(r#"{{"binding":"other","snapshots":{{"nodes":[{good_node}]}},"binding":"taint-nodes"}}"#),
            r#"{"binding":"taint-nodes","binding":"resize-pods","snapshots":{"pods":[{}]}}"#.to_string(),
            r#"{"binding":"taint-nodes","snapshots":[]}"#.to_string(),
            r#"{"binding":"taint-nodes","snapshots":null,"type":null}"#.to_string(),
            r#"{"binding":"resize-pods","snapshots":{"pods":[{"filterResult":null,"object":null}]}}"#.to_string(),
            r#"{"binding":"resize-pods","snapshots":{"pods":[{"filterResult":""}]}}"#.to_string(),
            r#"{"binding":"taint-nodes","snapshots":{"nodes":[[]]}}"#.to_string(),
            r#"{"binding":7}"#.to_string(),
            r#"{"binding":"taint-nodes","type":["Schedule"]}"#.to_string(),
            r#"{"type":"Schedule"}"#.to_string(),
            "null".to_string(),
            r#""text""#.to_string(),
        ];
        let mut documents = vec![
            String::new(),
            "[]".to_string(),
            "{}".to_string(),
            "3".to_string(),
            "[] []".to_string(),
            r#"[{"binding":"taint-nodes"},"#.to_string(),
        ];
        for a in &elements {
            documents.push(format!("[{a}]"));
            for b in &elements {
                documents.push(format!("[{a},{b}]"));
                documents.push(format!("[{a},{b},{a}]"));
            }
            documents.push(format!("[{a},{{\"binding\":}}]"));
        }
        for document in &documents {
            let streamed = parse(document.as_bytes()).map_err(|e| format!("{e:#}"));
            let tree = tree_reference::parse(document.as_bytes()).map_err(|e| format!("{e:#}"));
            assert_eq!(
                format!("{streamed:?}"),
                format!("{tree:?}"),
                "for {document}"
            );
        }
    }

    #[test]
    fn a_broken_snapshot_in_a_superseded_run_does_not_matter() {
        let text = r#"[
          {"binding":"taint-nodes","type":"Schedule","snapshots":{"nodes":[{"filterResult":{"spec":{"taints":7}}}]}},
          {"binding":"taint-nodes","type":"Schedule","snapshots":{"nodes":[{"filterResult":{"metadata":{"name":"new"}}}]}}
        ]"#;
        let nodes = parse_str(text).unwrap().taint_nodes.unwrap().nodes.unwrap();
        assert_eq!(nodes[0].metadata.name.as_deref(), Some("new"));
    }

    #[test]
    fn a_file_is_streamed_with_the_same_result_and_messages_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("context.json");
        std::fs::write(
            &path,
            r#"[{"binding":"resize-pods","snapshots":{"pods":[{"filterResult":{"metadata":{"name":"p"}}}]}}]"#,
        )
        .unwrap();
        let pods = read(&path).unwrap().resize_pods.unwrap().pods.unwrap();
        assert_eq!(pods[0].metadata.name.as_deref(), Some("p"));

        std::fs::write(
            &path,
            r#"[{"binding":"resize-pods","snapshots":{"pods":[3]}}]"#,
        )
        .unwrap();
        let message = format!("{:#}", read(&path).unwrap_err());
        assert!(
            message.contains(&format!("binding context {}", path.display()))
                && message.contains("element 0 (binding resize-pods): snapshots.pods[0]: must be an object, found a number"),
            "{message}"
        );

        let missing = dir.path().join("missing.json");
        let message = format!("{:#}", read(&missing).unwrap_err());
        assert!(
            message.starts_with(&format!("reading binding context {}", missing.display())),
            "{message}"
        );
    }

    #[test]
    fn malformed_contexts_name_the_element_and_field() {
        let cases = [
            ("not json", "not JSON"),
            (
                r#"{"binding":"taint-nodes"}"#,
                "must be a JSON array of binding contexts, found an object",
            ),
            (
                r#"[{"type":"Schedule"}]"#,
                "element 0: has no \"binding\" field",
            ),
            (
                r#"[{"binding":"taint-nodes"}, 3]"#,
                "element 1: must be an object, found a number",
            ),
            (
                r#"[{"binding":"taint-nodes","snapshots":{"nodes":{}}}]"#,
                "element 0 (binding taint-nodes): snapshots.nodes: must be an array, found an object",
            ),
            (
                r#"[{"binding":"taint-nodes","snapshots":{"nodes":[{"filterResult":{"spec":{"taints":[{"key":"k","effect":7}]}}}]}}]"#,
                "element 0 (binding taint-nodes): snapshots.nodes[0].filterResult.spec.taints[0].effect: invalid type",
            ),
        ];
        for (text, expected) in cases {
            let message = format!("{:#}", parse_str(text).unwrap_err());
            assert!(
                message.contains(expected),
                "{text}\n  gave: {message}\n  wanted: {expected}"
            );
        }
    }

    /// The parser as it was before streaming (one JSON tree of the whole document): the reference the streamed
    /// parser must agree with, result for result and message for message.
    mod tree_reference {
        use super::super::{HookRun, Snapshots, binding};
        use anyhow::{Context, Result, anyhow, bail};
        use serde::de::DeserializeOwned;
        use serde_json::Value;

        pub fn parse(text: &[u8]) -> Result<HookRun> {
            let document: Value = serde_json::from_slice(text).context("not JSON")?;
            let Value::Array(elements) = document else {
                bail!(
                    "must be a JSON array of binding contexts, found {}",
                    kind_of(&document)
                );
            };

            let mut run = HookRun::default();
            // The newest element of each controller wins: shell-operator appends newer runs at the end.
            let mut newest_taint = None;
            let mut newest_resize = None;
            for (index, element) in elements.iter().enumerate() {
                let Value::Object(fields) = element else {
                    bail!(
                        "element {index}: must be an object, found {}",
                        kind_of(element)
                    );
                };
                let name = match fields.get("binding") {
                    Some(Value::String(name)) => name.as_str(),
                    Some(other) => bail!(
                        "element {index}: \"binding\" must be a string, found {}",
                        kind_of(other)
                    ),
                    None => bail!("element {index}: has no \"binding\" field"),
                };
                let context_type = match fields.get("type") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(t)) => Some(t.as_str()),
                    Some(other) => bail!(
                        "element {index} (binding {name}): \"type\" must be a string, found {}",
                        kind_of(other)
                    ),
                };
                match (name, context_type) {
                    (binding::TAINT_NODES, None | Some("Schedule" | "Group")) => {
                        newest_taint = Some(index)
                    }
                    (binding::RESIZE_PODS, None | Some("Schedule" | "Group")) => {
                        newest_resize = Some(index)
                    }
                    _ => run
                        .skipped
                        .push(format!("{name} ({})", context_type.unwrap_or("no type"))),
                }
            }

            if let Some(index) = newest_taint {
                run.taint_nodes = Some(snapshots_of(&elements[index], index)?);
            }
            if let Some(index) = newest_resize {
                run.resize_pods = Some(snapshots_of(&elements[index], index)?);
            }
            Ok(run)
        }

        fn snapshots_of(element: &Value, index: usize) -> Result<Snapshots> {
            let name = element["binding"].as_str().unwrap_or_default();
            let where_ = || format!("element {index} (binding {name})");
            let snapshots = match element.get("snapshots") {
                None | Some(Value::Null) => return Ok(Snapshots::default()),
                Some(Value::Object(map)) => map,
                Some(other) => bail!(
                    "{}: \"snapshots\" must be an object, found {}",
                    where_(),
                    kind_of(other)
                ),
            };
            // Snapshots of bindings we do not know are ignored: a newer config may pass more than this version reads.
            Ok(Snapshots {
                nodes: objects(snapshots.get(binding::NODES), binding::NODES)
                    .with_context(where_)?,
                pods: objects(snapshots.get(binding::PODS), binding::PODS).with_context(where_)?,
                namespaces: objects(snapshots.get(binding::NAMESPACES), binding::NAMESPACES)
                    .with_context(where_)?,
            })
        }

        /// Decodes one snapshot: each item's `filterResult` (our jqFilter keeps the object's shape) or else its `object`.
        fn objects<T: DeserializeOwned>(
            snapshot: Option<&Value>,
            name: &str,
        ) -> Result<Option<Vec<T>>> {
            let items = match snapshot {
                None | Some(Value::Null) => return Ok(None),
                Some(Value::Array(items)) => items,
                Some(other) => bail!(
                    "snapshots.{name}: must be an array, found {}",
                    kind_of(other)
                ),
            };
            let mut decoded = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let (field, object) = match (item.get("filterResult"), item.get("object")) {
                    (Some(result), _) if !result.is_null() => ("filterResult", result),
                    (_, Some(object)) if !object.is_null() => ("object", object),
                    _ if item.is_object() => {
                        bail!(
                            "snapshots.{name}[{i}]: has neither \"filterResult\" nor \"object\" (is the jqFilter ours?)"
                        )
                    }
                    _ => bail!(
                        "snapshots.{name}[{i}]: must be an object, found {}",
                        kind_of(item)
                    ),
                };
                let value: T = serde_path_to_error::deserialize(object).map_err(|e| {
                    anyhow!("snapshots.{name}[{i}].{field}.{}: {}", e.path(), e.inner())
                })?;
                decoded.push(value);
            }
            Ok(Some(decoded))
        }

        fn kind_of(value: &Value) -> &'static str {
            match value {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }
        }
    }
}
