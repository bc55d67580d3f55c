//! The repeated records of an answer (jXchange's `_AType` arrays: `MFATokenInqArray`
//! holds `MFATokenInqInfoRec`s). A record type names its element once (`Record::ITEM`);
//! `Records` serializes as a newtype struct of that name around the items, which JSON
//! writes transparently (the array) and the SOAP writer (`soap::ser`) reads as the
//! element name of each item, so neither binding keeps a table of record names.

use serde::{Serialize, Serializer};

/// A record type of an answer array, and its element name in XML.
pub trait Record {
    /// The element each item is written as (`AttemptRec`).
    const ITEM: &'static str;
}

/// An answer array of `T` records.
#[derive(Debug)]
pub struct Records<T>(pub Vec<T>);

impl<T: Record + Serialize> Serialize for Records<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(T::ITEM, &self.0)
    }
}

impl<T> FromIterator<T> for Records<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Records(iter.into_iter().collect())
    }
}
