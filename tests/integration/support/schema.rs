//! A small JSON Schema (2020-12 subset) validator for the OpenAPI test: exactly the
//! keywords utoipa emits for tokend's document — `$ref` into `components/schemas`,
//! `allOf`, `oneOf`, `type` (one or a list), `enum`, `required`, `properties`,
//! `additionalProperties: false`, `items`, `minItems`, `pattern`, `minLength`,
//! `maxLength`, `minimum`, `maximum`. An unknown keyword is an error, so a document that
//! starts using one fails the test instead of being checked loosely.

use serde_json::Value;

/// Keywords that only describe (no constraint). `xml` names a record's element in XML
/// (the SOAP binding's `MFATokenInqInfoRec`, `BindingRec`…), nothing JSON is checked by.
const ANNOTATIONS: &[&str] = &[
    "xml",
    "description",
    "format",
    "title",
    "example",
    "examples",
    "default",
];

/// Checks `value` against `schema`, resolving `$ref`s in `doc`; every violation, by path.
pub fn validate(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(doc, schema, value, "$", &mut errors);
    errors
}

/// The schema a `$ref` names (`#/components/schemas/Name`).
pub fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn type_ok(ty: &str, value: &Value) -> bool {
    match ty {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown type {other}"),
    }
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        errors.push(format!("{at}: schema is not an object: {schema}"));
        return;
    };
    for (key, rule) in obj {
        match key.as_str() {
            "$ref" => match resolve(doc, rule.as_str().unwrap_or_default()) {
                Some(target) => check(doc, target, value, at, errors),
                None => errors.push(format!("{at}: unresolved $ref {rule}")),
            },
            "allOf" => {
                for sub in rule.as_array().unwrap() {
                    check(doc, sub, value, at, errors);
                }
            }
            "oneOf" => {
                let matching = rule
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|sub| validate_at(doc, sub, value, at).is_empty())
                    .count();
                if matching != 1 {
                    errors.push(format!("{at}: {matching} oneOf branches match {value}"));
                }
            }
            "type" => {
                let ok = match rule {
                    Value::String(t) => type_ok(t, value),
                    Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), value)),
                    _ => false,
                };
                if !ok {
                    errors.push(format!("{at}: {value} is not of type {rule}"));
                }
            }
            "enum" => {
                if !rule.as_array().unwrap().contains(value) {
                    errors.push(format!("{at}: {value} is not one of {rule}"));
                }
            }
            "required" | "properties" | "additionalProperties" => {
                if let Some(map) = value.as_object() {
                    check_object(doc, obj, key, map, at, errors);
                }
            }
            "items" | "minItems" => {
                if let Some(items) = value.as_array() {
                    check_array(doc, key, rule, items, at, errors);
                }
            }
            "pattern" | "minLength" | "maxLength" | "minimum" | "maximum" => {
                check_scalar(key, rule, value, at, errors);
            }
            // Extensions (`x-enum-varnames`, …) annotate; they never constrain.
            k if ANNOTATIONS.contains(&k) || k.starts_with("x-") => {}
            other => errors.push(format!(
                "{at}: keyword {other} is not understood by this test"
            )),
        }
    }
}

/// `required`, `properties` and `additionalProperties: false` of an object value.
fn check_object(
    doc: &Value,
    schema: &serde_json::Map<String, Value>,
    key: &str,
    map: &serde_json::Map<String, Value>,
    at: &str,
    errors: &mut Vec<String>,
) {
    let rule = &schema[key];
    let known = schema.get("properties").and_then(Value::as_object);
    match key {
        "required" => {
            for name in rule.as_array().unwrap() {
                if !map.contains_key(name.as_str().unwrap()) {
                    errors.push(format!("{at}: required {name} is missing"));
                }
            }
        }
        "properties" => {
            for (name, sub) in rule.as_object().unwrap() {
                if let Some(v) = map.get(name) {
                    check(doc, sub, v, &format!("{at}.{name}"), errors);
                }
            }
        }
        _ => {
            if rule.as_bool() == Some(false) {
                for name in map.keys() {
                    if !known.is_some_and(|k| k.contains_key(name)) {
                        errors.push(format!("{at}: element {name} is not in the schema"));
                    }
                }
            }
        }
    }
}

/// `items` and `minItems` of an array value.
fn check_array(
    doc: &Value,
    key: &str,
    rule: &Value,
    items: &[Value],
    at: &str,
    errors: &mut Vec<String>,
) {
    if key == "minItems" {
        if (items.len() as u64) < rule.as_u64().unwrap() {
            errors.push(format!("{at}: fewer than {rule} items"));
        }
        return;
    }
    for (i, v) in items.iter().enumerate() {
        check(doc, rule, v, &format!("{at}[{i}]"), errors);
    }
}

/// `pattern`, `minLength`/`maxLength` of strings, `minimum`/`maximum` of numbers.
fn check_scalar(key: &str, rule: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(s) = value.as_str() {
        if key == "pattern" {
            let re = regex::Regex::new(rule.as_str().unwrap()).unwrap();
            if !re.is_match(s) {
                errors.push(format!("{at}: {s:?} does not match {rule}"));
            }
            return;
        }
        let n = s.chars().count() as f64;
        let bound = rule.as_f64().unwrap();
        if (key == "minLength" && n < bound) || (key == "maxLength" && n > bound) {
            errors.push(format!("{at}: length {n} breaks {key} {bound}"));
        }
    } else if let (Some(n), Some(bound)) = (value.as_f64(), rule.as_f64()) {
        if (key == "minimum" && n < bound) || (key == "maximum" && n > bound) {
            errors.push(format!("{at}: {n} breaks {key} {bound}"));
        }
    }
}

fn validate_at(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut errors = Vec::new();
    check(doc, schema, value, at, &mut errors);
    errors
}
