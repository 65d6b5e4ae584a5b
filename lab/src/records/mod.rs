//! The lab's documents as data: every record the lab writes to JSON and reads back, and nothing else.
//!
//! One file per document — [`run`] (a `lab matrix` run, its cells and their parts), [`header`] (what every
//! document starts with), [`soak`], [`bench`](mod@bench), [`capacity`], [`slowloris`], [`primitives`] — with the
//! serde attributes that fix their JSON words and a few accessors. The code that *computes* a record lives with the
//! command that measures it; this module imports nothing else of the lab, so every other module may depend on it
//! and it on none of them. `lab/SCHEMA.md` documents the JSON; `lab/tests/records.rs` reads every committed
//! document back.

/// A closed set of words in the JSON: an enum in the code, its word in the document (`"ok"`, `"not-run"`).
/// Code compares the enum (`cell.status == Status::Ok`); the word is only for the document, the tables and the
/// command line (`"io".parse::<Workload>()`: an unknown word names the known ones).
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word the JSON and the tables use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            /// The value whose word is `word`, if any.
            pub fn from_word(word: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == word)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            /// `unknown workload "x" (known: io, baseline, …)` for a word that is none of them.
            fn from_str(word: &str) -> Result<$name, String> {
                $name::from_word(word).ok_or_else(|| {
                    let known: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    let noun = $crate::records::noun(stringify!($name));
                    format!("unknown {noun} {word:?} (known: {})", known.join(", "))
                })
            }
        }
    };
}

/// A type's name as the noun of a message: `Workload` → `workload`, `ClientKind` → `client kind`.
pub fn noun(type_name: &str) -> String {
    let mut noun = String::new();
    for c in type_name.chars() {
        if c.is_uppercase() && !noun.is_empty() {
            noun.push(' ');
        }
        noun.extend(c.to_lowercase());
    }
    noun
}

/// A document of the lab (`RUN-ID.json`, `bench-RUN-ID.json`, …): a [`RunHeader`](header::RunHeader) flattened
/// into its top level, whose fields read as the document's own (`run.run_id`) through `Deref`, written by one
/// command.
pub trait Document: Serialize + DeserializeOwned + std::ops::Deref<Target = header::RunHeader> {
    /// The command that writes it: its header's `kind`, and what its files' names start with.
    const KIND: header::RunKind;
    /// The `schema_version`s this lab reads.
    const VERSIONS: std::ops::RangeInclusive<u32>;

    /// Its files' name without the extension: `RUN-ID`, `bench-RUN-ID`.
    fn file_stem(&self) -> String {
        format!("{}{}", Self::KIND.file_prefix(), self.run_id)
    }
}

/// Makes `$doc`, its header in its field `header`, the [`Document`] that `$kind` writes, read in `$versions`.
macro_rules! document {
    ($doc:ident, $kind:ident, $versions:expr) => {
        impl std::ops::Deref for $doc {
            type Target = $crate::records::header::RunHeader;
            fn deref(&self) -> &Self::Target {
                &self.header
            }
        }

        impl $crate::records::Document for $doc {
            const KIND: $crate::records::header::RunKind = $crate::records::header::RunKind::$kind;
            const VERSIONS: std::ops::RangeInclusive<u32> = $versions;
        }
    };
}

/// The distinct values of `items`, each where it first appears: a table's rows or columns in run order.
pub fn first_seen<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    grouped(items.into_iter().map(|item| (item, ()))).into_iter().map(|(item, _)| item).collect()
}

/// The values of `items` grouped by their keys: the groups in first-seen order, each its values in order.
pub fn grouped<K: PartialEq, V>(items: impl IntoIterator<Item = (K, V)>) -> Vec<(K, Vec<V>)> {
    let mut groups: Vec<(K, Vec<V>)> = Vec::new();
    for (key, value) in items {
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => groups.push((key, vec![value])),
        }
    }
    groups
}

use serde::de::DeserializeOwned;
use serde::Serialize;

pub mod bench;
pub mod capacity;
pub mod header;
pub mod primitives;
pub mod run;
pub mod slowloris;
pub mod soak;
