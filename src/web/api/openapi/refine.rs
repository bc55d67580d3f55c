//! What the derive cannot say, applied to the generated document before it is served:
//! path parameters under their element names with the parsers' patterns, QR answers as
//! binary media, each operation's fault codes in one list, and no schema in `components`
//! that no operation reaches.
//!
//! Each step works on the serialized document (`serde_json::Value`) and is a pure
//! function of it, so the served document is still generated, never written by hand.
//!
//! Imports: serde_json only.

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// A path element: the Rocket route's argument name, the jXchange element name the
/// document gives it, the pattern its parser (`web::parse`, `oob::alrt_id`) accepts, and
/// an example.
struct PathElement {
    arg: &'static str,
    elem: &'static str,
    pattern: &'static str,
    max_length: u64,
    example: &'static str,
    description: &'static str,
}

/// The path elements of `/api/v1`. Rocket's route arguments must be snake_case Rust
/// identifiers (`<token_id>`); generators name the parameter after the document, so the
/// document uses the element's own name (`{TokenId}`) as a jXchange integrator reads it.
const PATH_ELEMENTS: [PathElement; 3] = [
    PathElement {
        arg: "token_id",
        elem: "TokenId",
        pattern: "^[A-Za-z0-9._-]{1,64}$",
        max_length: 64,
        example: "TK-000123",
        description: "The token's serial (`TokenId`)",
    },
    PathElement {
        arg: "usr_name",
        elem: "UsrName",
        pattern: "^[^\\s:\\x00-\\x1f\\x7f-\\x9f]([^:\\x00-\\x1f\\x7f-\\x9f]*[^\\s:\\x00-\\x1f\\x7f-\\x9f])?$",
        max_length: 128,
        example: "jdoe",
        description: "The user (`UsrName`), unique within the institution",
    },
    PathElement {
        // Unknown and malformed ids alike are fault 7050 (a 404): the parser accepts
        // hex digits and hyphens, of which a UUID is one form.
        arg: "alrt_pkg_id",
        elem: "AlrtPkgId",
        pattern: "^[0-9A-Fa-f-]{1,64}$",
        max_length: 64,
        example: "3f2b8c1e-6a4d-4f7b-9e2a-1c5d7e9f0a3b",
        description: "The OOB session (`AlrtPkgId`, a UUID)",
    },
];

/// Applies every refinement.
pub fn refine(doc: &mut Value) {
    name_path_elements(doc);
    binary_images(doc);
    operation_faults(doc);
    prune_unreferenced_schemas(doc);
}

/// Each operation's `x-jxchange-faults`: the union, in code order, of its fault
/// responses' lists (`faults::fault_response`), so a client sees in one place every
/// fault code the operation can answer.
fn operation_faults(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for op in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in op.values_mut().filter_map(Value::as_object_mut) {
            let codes: BTreeSet<&str> = op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|r| r.values())
                .filter_map(|r| r["x-jxchange-faults"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !codes.is_empty() {
                let codes: Vec<String> = codes.into_iter().map(str::to_owned).collect();
                op.insert("x-jxchange-faults".to_owned(), json!(codes));
            }
        }
    }
}

/// Renames `{token_id}` to `{TokenId}` (and its parameter), with pattern and example.
fn name_path_elements(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let renamed: Map<String, Value> = std::mem::take(paths)
        .into_iter()
        .map(|(mut path, mut item)| {
            for e in &PATH_ELEMENTS {
                path = path.replace(&format!("{{{}}}", e.arg), &format!("{{{}}}", e.elem));
            }
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                let params = op.get_mut("parameters").and_then(Value::as_array_mut);
                for p in params.into_iter().flatten() {
                    name_parameter(p);
                }
            }
            (path, item)
        })
        .collect();
    *paths = renamed;
}

/// One path parameter under its element's name.
fn name_parameter(p: &mut Value) {
    if p["in"] != "path" {
        return;
    }
    let Some(e) = PATH_ELEMENTS.iter().find(|e| p["name"] == e.arg) else {
        return;
    };
    p["name"] = json!(e.elem);
    p["description"] = json!(e.description);
    p["example"] = json!(e.example);
    p["schema"] = json!({
        "type": "string",
        "minLength": 1,
        "maxLength": e.max_length,
        "pattern": e.pattern,
    });
}

/// The QR answers are images: PNG bytes as `format: binary` (a generated client then
/// hands back bytes or a file, not a decoded string), SVG as text.
fn binary_images(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for op in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in op.values_mut() {
            let responses = op.get_mut("responses").and_then(Value::as_object_mut);
            for r in responses.into_iter().flat_map(|r| r.values_mut()) {
                if let Some(png) = r.pointer_mut("/content/image~1png") {
                    png["schema"] = json!({"type": "string", "format": "binary"});
                }
                if let Some(svg) = r.pointer_mut("/content/image~1svg+xml") {
                    svg["schema"] = json!({"type": "string", "contentMediaType": "image/svg+xml"});
                }
            }
        }
    }
}

/// Drops the schemas no operation reaches. utoipa registers a body struct both on its
/// own and inlined in its `Answer_<Body>`; a generator would emit both twins.
fn prune_unreferenced_schemas(doc: &mut Value) {
    let mut reached = BTreeSet::new();
    let mut todo = Vec::new();
    refs(&doc["paths"], &mut todo);
    while let Some(name) = todo.pop() {
        if reached.insert(name.clone()) {
            refs(&doc["components"]["schemas"][&name], &mut todo);
        }
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.retain(|name, _| reached.contains(name));
    }
}

/// Collects the schema names `v` refers to.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(name) = o
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name.to_owned());
            }
            o.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}
