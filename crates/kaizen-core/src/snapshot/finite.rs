//! Finds the numbers in any serialisable value that are NaN or infinite.
//!
//! [`non_finite`] walks a value through its `Serialize` implementation (so a field added to a
//! snapshot type later is covered without anyone remembering to list it) and returns the
//! dotted path and value of every `f32`/`f64` that is not finite. JSON cannot tell these
//! apart from `null` (serde_json writes them as `null`), which is why the walk does not go
//! through JSON.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// The path (`budget.total_spend`, `metrics[2].value`, `department_summaries.ops.avg_…`) and
/// value of every non-finite number in `value`, prefixed by `root`.
pub fn non_finite<T: Serialize + ?Sized>(root: &str, value: &T) -> Vec<(String, f64)> {
    let mut probe = Probe {
        path: root.to_owned(),
        found: Vec::new(),
    };
    // The probe's serializer never fails.
    let _ = value.serialize(&mut probe);
    probe.found
}

struct Probe {
    path: String,
    found: Vec<(String, f64)>,
}

impl Probe {
    fn float(&mut self, v: f64) {
        if !v.is_finite() {
            self.found.push((self.path.clone(), v));
        }
    }

    fn nested<T: Serialize + ?Sized>(&mut self, segment: &str, value: &T) {
        let len = self.path.len();
        if !self.path.is_empty() && !segment.starts_with('[') {
            self.path.push('.');
        }
        self.path.push_str(segment);
        let _ = value.serialize(&mut *self);
        self.path.truncate(len);
    }
}

/// The probe's error type; it is never produced.
#[derive(Debug)]
pub struct ProbeError;

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("finiteness probe error")
    }
}

impl std::error::Error for ProbeError {}

impl ser::Error for ProbeError {
    fn custom<T: fmt::Display>(_: T) -> Self {
        ProbeError
    }
}

/// A sequence, tuple, map or struct being walked.
struct Compound<'a> {
    probe: &'a mut Probe,
    index: usize,
    key: String,
}

impl<'a> ser::Serializer for &'a mut Probe {
    type Ok = ();
    type Error = ProbeError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, _: bool) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), ProbeError> {
        self.float(f64::from(v));
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), ProbeError> {
        self.float(v);
        Ok(())
    }
    fn serialize_char(self, _: char) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), ProbeError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), ProbeError> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), ProbeError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), ProbeError> {
        self.nested(variant, value);
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, ProbeError> {
        Ok(self.compound())
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, ProbeError> {
        Ok(self.compound())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, ProbeError> {
        Ok(self.compound())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, ProbeError> {
        Ok(self.compound())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, ProbeError> {
        Ok(self.compound())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, ProbeError> {
        Ok(self.compound())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, ProbeError> {
        Ok(self.compound())
    }
}

impl Probe {
    fn compound(&mut self) -> Compound<'_> {
        Compound {
            probe: self,
            index: 0,
            key: String::new(),
        }
    }
}

impl Compound<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) {
        let segment = format!("[{}]", self.index);
        self.index += 1;
        self.probe.nested(&segment, value);
    }
}

macro_rules! sequence_like {
    ($($tr:ident :: $method:ident),* $(,)?) => {
        $(
            impl ser::$tr for Compound<'_> {
                type Ok = ();
                type Error = ProbeError;
                fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProbeError> {
                    self.element(value);
                    Ok(())
                }
                fn end(self) -> Result<(), ProbeError> {
                    Ok(())
                }
            }
        )*
    };
}

sequence_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = ProbeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ProbeError> {
        self.probe.nested(key, value);
        Ok(())
    }
    fn end(self) -> Result<(), ProbeError> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = ProbeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ProbeError> {
        self.probe.nested(key, value);
        Ok(())
    }
    fn end(self) -> Result<(), ProbeError> {
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = ProbeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ProbeError> {
        self.key = key.serialize(KeyName).unwrap_or_else(|_| "?".to_owned());
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProbeError> {
        let key = std::mem::take(&mut self.key);
        self.probe.nested(&key, value);
        Ok(())
    }
    fn end(self) -> Result<(), ProbeError> {
        Ok(())
    }
}

/// Turns a string (or unit-variant) map key into its text; other keys are `?`.
struct KeyName;

impl ser::Serializer for KeyName {
    type Ok = String;
    type Error = ProbeError;
    type SerializeSeq = Impossible<String, ProbeError>;
    type SerializeTuple = Impossible<String, ProbeError>;
    type SerializeTupleStruct = Impossible<String, ProbeError>;
    type SerializeTupleVariant = Impossible<String, ProbeError>;
    type SerializeMap = Impossible<String, ProbeError>;
    type SerializeStruct = Impossible<String, ProbeError>;
    type SerializeStructVariant = Impossible<String, ProbeError>;

    fn serialize_str(self, v: &str) -> Result<String, ProbeError> {
        Ok(v.to_owned())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, ProbeError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, ProbeError> {
        value.serialize(self)
    }
    fn serialize_bool(self, v: bool) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, v: f32) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_f64(self, v: f64) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_char(self, v: char) -> Result<String, ProbeError> {
        Ok(v.to_string())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, ProbeError> {
        Err(ProbeError)
    }
    fn serialize_none(self) -> Result<String, ProbeError> {
        Err(ProbeError)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, ProbeError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, ProbeError> {
        Err(ProbeError)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, ProbeError> {
        Err(ProbeError)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, ProbeError> {
        Err(ProbeError)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, ProbeError> {
        Err(ProbeError)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, ProbeError> {
        Err(ProbeError)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, ProbeError> {
        Err(ProbeError)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, ProbeError> {
        Err(ProbeError)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, ProbeError> {
        Err(ProbeError)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, ProbeError> {
        Err(ProbeError)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, ProbeError> {
        Err(ProbeError)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Serialize)]
    struct Inner {
        value: f64,
        maybe: Option<f64>,
    }

    #[derive(Serialize)]
    struct Outer {
        total: f64,
        count: u64,
        items: Vec<Inner>,
        by_key: BTreeMap<String, Inner>,
    }

    #[test]
    fn finds_every_non_finite_number_with_its_path() {
        let outer = Outer {
            total: f64::INFINITY,
            count: 3,
            items: vec![
                Inner {
                    value: 1.0,
                    maybe: None,
                },
                Inner {
                    value: 2.0,
                    maybe: Some(f64::NAN),
                },
            ],
            by_key: BTreeMap::from([(
                "ops".to_owned(),
                Inner {
                    value: f64::NEG_INFINITY,
                    maybe: Some(0.5),
                },
            )]),
        };
        let found = non_finite("budget", &outer);
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "budget.total",
                "budget.items[1].maybe",
                "budget.by_key.ops.value"
            ]
        );
        assert!(found[1].1.is_nan());
        assert!(
            non_finite(
                "",
                &Inner {
                    value: 0.0,
                    maybe: Some(f64::MAX)
                }
            )
            .is_empty()
        );
    }
}
