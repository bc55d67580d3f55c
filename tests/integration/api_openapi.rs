//! The OpenAPI document at `/api/v1/openapi.json`: served without a key, a well-formed
//! OpenAPI 3 document naming every route Rocket mounts under `/api/v1` (the list comes from
//! `tokend::web::api::routes()`, so a new route without `#[utoipa::path]` fails here), and
//! real answers — successes and faults — match the schemas it gives for them.

use serde_json::{json, Value};
use std::collections::BTreeSet;

use crate::support::schema::{resolve, validate};
use crate::support::{create_key, fault, json_of, TestServer};

/// Fetches the document without any key.
fn document(server: &TestServer) -> Value {
    let (status, doc) = json_of(ureq::get(&format!("{}/api/v1/openapi.json", server.base)).call());
    assert_eq!(status, 200);
    doc
}

/// Rocket's route arguments and the element names the document gives them.
const PATH_ELEMENTS: [(&str, &str); 3] = [
    ("token_id", "TokenId"),
    ("usr_name", "UsrName"),
    ("alrt_pkg_id", "AlrtPkgId"),
];

/// Stands for the query names a `FromForm` struct parses (see `mounted`).
const STRUCT_QUERY: &str = "<struct>";

/// Every mounted API operation as (method, OpenAPI path, query parameter names).
fn mounted() -> Vec<(String, String, BTreeSet<String>)> {
    let rocket = rocket::build().mount(tokend::web::API_BASE, tokend::web::api::routes());
    rocket
        .routes()
        .map(|r| {
            let mut path = r.uri.path().replace('<', "{").replace('>', "}");
            // The document names path parameters after their elements (see
            // `element_names_patterns_media_and_no_twins`).
            for (arg, elem) in PATH_ELEMENTS {
                path = path.replace(&format!("{{{arg}}}"), &format!("{{{elem}}}"));
            }
            let mut query: BTreeSet<String> = r
                .uri
                .query()
                .unwrap_or_default()
                .split('&')
                .filter(|q| !q.is_empty())
                .map(|q| q.trim_matches(|c| c == '<' || c == '>').to_owned())
                .collect();
            let method = r.method.as_str().to_ascii_lowercase();
            // A trailing `<name..>` is a `FromForm` struct (the audit query) whose fields
            // Rocket does not list: its names come from the same struct's `IntoParams`,
            // so the document is taken as the list (checked non-empty below).
            if query.iter().any(|q| q.ends_with("..")) {
                query = [STRUCT_QUERY.to_owned()].into();
            }
            // Every GET but the document itself also reads `InstRtId` from the query,
            // through its header guard (a GET has no MsgRqHdr to carry it).
            if method == "get" && !path.ends_with("/openapi.json") {
                query.insert("InstRtId".to_owned());
            }
            (method, path, query)
        })
        .collect()
}

/// Every `$ref` in `v` resolves within `doc`.
fn refs_resolve(doc: &Value, v: &Value, broken: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, sub) in map {
                if k == "$ref" && resolve(doc, sub.as_str().unwrap_or_default()).is_none() {
                    broken.push(sub.to_string());
                }
                refs_resolve(doc, sub, broken);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| refs_resolve(doc, i, broken)),
        _ => {}
    }
}

fn fault_ref(op: &Value, status: &str) -> Option<String> {
    op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .map(str::to_owned)
}

/// One mounted route's operation: documented with its parameters, its 200, and the
/// fault answers every authenticated operation (and every body) may get.
fn check_operation(doc: &Value, method: &str, path: &str, query: &BTreeSet<String>) {
    let op = &doc["paths"][path][method];
    assert!(
        op.is_object(),
        "{method} {path} is mounted but not documented"
    );
    let params: Vec<&Value> = op["parameters"]
        .as_array()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    for segment in path.split('/').filter(|s| s.starts_with('{')) {
        let name = segment.trim_matches(|c| c == '{' || c == '}');
        assert!(
            params
                .iter()
                .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
            "{method} {path}: path parameter {name} undocumented"
        );
    }
    let documented_query: BTreeSet<String> = params
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    if query.contains(STRUCT_QUERY) {
        let named: BTreeSet<String> = query
            .iter()
            .filter(|q| *q != STRUCT_QUERY)
            .cloned()
            .collect();
        assert!(
            documented_query.is_superset(&named) && documented_query.len() > named.len(),
            "{method} {path}: the query struct's parameters are not documented"
        );
    } else {
        assert_eq!(
            &documented_query, query,
            "{method} {path}: query parameters"
        );
    }
    assert!(
        op["responses"]["200"].is_object(),
        "{method} {path}: no 200"
    );
    if path.ends_with("/openapi.json") {
        assert_eq!(op["security"], json!([{}]), "the document needs no key");
        return;
    }
    for status in ["401", "403", "500", "503"] {
        assert_eq!(
            fault_ref(op, status).as_deref(),
            Some("#/components/schemas/FaultRs"),
            "{method} {path}: {status}"
        );
    }
    if method == "post" {
        assert_eq!(op["requestBody"]["required"], true, "{method} {path}");
        for status in ["400", "413"] {
            assert!(fault_ref(op, status).is_some(), "{method} {path}: {status}");
        }
    }
}

#[test]
fn the_document_is_served_without_a_key_and_names_every_route() {
    let server = TestServer::start();
    let doc = document(&server);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (&bearer["type"], &bearer["scheme"]),
        (&json!("http"), &json!("bearer"))
    );
    // No document-wide default: each operation declares its own scope.
    assert!(doc["security"].is_null(), "{}", doc["security"]);
    let mut broken = Vec::new();
    refs_resolve(&doc, &doc, &mut broken);
    assert!(broken.is_empty(), "unresolved $refs: {broken:?}");

    let routes = mounted();
    assert!(routes.len() >= 19, "{routes:?}");
    let mut operation_ids = BTreeSet::new();
    for (method, path, query) in &routes {
        check_operation(&doc, method, path, query);
        let id = doc["paths"][path][method]["operationId"].as_str().unwrap();
        assert!(
            operation_ids.insert(id.to_owned()),
            "operationId {id} twice"
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        routes.len(),
        "the document names operations no route serves"
    );
    let limited = &doc["paths"]["/api/v1/validate"]["post"]["responses"]["429"];
    assert!(limited["headers"]["Retry-After"].is_object(), "{limited}");
}

/// The schema of the answer `status` of `method path`, as a `$ref` object.
fn answer_schema(doc: &Value, method: &str, path: &str, status: u16) -> Value {
    let schema = &doc["paths"][path][method]["responses"][status.to_string()]["content"]
        ["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} documents no JSON {status}"
    );
    schema.clone()
}

/// Asserts that a real answer matches the document.
fn conforms(doc: &Value, method: &str, path: &str, (status, body): (u16, Value)) -> Value {
    let schema = answer_schema(doc, method, path, status);
    let errors = validate(doc, &schema, &body);
    assert!(
        errors.is_empty(),
        "{method} {path} answered {status} {body}\nagainst the schema: {errors:#?}"
    );
    body
}

/// A server and its document: every call's answer is checked against the document.
struct Probe {
    server: TestServer,
    doc: Value,
}

impl Probe {
    fn start() -> Probe {
        let server = TestServer::start();
        let doc = document(&server);
        Probe { server, doc }
    }

    /// POSTs `body` to `path` (an instance of the documented `template`) with `key`.
    fn post_as(&self, key: &str, template: &str, path: &str, body: Value) -> Value {
        let answer = self.server.post_as(key, path, &body);
        conforms(&self.doc, "post", template, answer)
    }

    fn post(&self, template: &str, path: &str, body: Value) -> Value {
        self.post_as(&self.server.key, template, path, body)
    }

    fn get(&self, template: &str, path: &str) -> Value {
        let (status, _, _, bytes) = self.server.get(path);
        let body = serde_json::from_slice(&bytes).unwrap();
        conforms(&self.doc, "get", template, (status, body))
    }
}

const TOKENS: &str = "/api/v1/tokens";
const INQUIRY: &str = "/api/v1/inquiry";
const VALIDATE: &str = "/api/v1/validate";
const SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

#[test]
fn enrollment_and_lifecycle_answers_match_their_schemas() {
    let p = Probe::start();
    let rs = p.post(
        TOKENS,
        TOKENS,
        json!({"UsrName": "Jane Doe", "TokenType": "Software"}),
    );
    let token = rs["TokenId"].as_str().unwrap().to_owned();
    let hardware =
        json!({"UsrName": "Ola", "TokenType": "Hardware", "TokenId": "HW-1", "Seed": SEED});
    p.post(TOKENS, TOKENS, hardware.clone());
    p.post(TOKENS, TOKENS, hardware); // 409
    p.post(
        TOKENS,
        TOKENS,
        json!({"UsrName": "Jane", "TokenType": "Softwar"}),
    ); // 400
    p.post(
        TOKENS,
        TOKENS,
        json!({"UsrName": "Jane", "TokenType": "Software", "PhoneNum": "1"}),
    ); // 422
    let activate = "/api/v1/tokens/{TokenId}/activate";
    p.post(
        activate,
        &format!("{TOKENS}/{token}/activate"),
        json!({"Code": "000000"}),
    );
    p.post(
        activate,
        "/api/v1/tokens/nope/activate",
        json!({"Code": "000000"}),
    ); // 404
    let inq = p.post(
        INQUIRY,
        INQUIRY,
        json!({"TokenId": token, "ActIntent": "Upd"}),
    );
    let modify = "/api/v1/tokens/{TokenId}/modify";
    let change = json!({"ActIntentKey": inq["ActIntentKey"], "UsrName": "Jane Doe", "UsrTokenDesc": "phone"});
    p.post(modify, &format!("{TOKENS}/{token}/modify"), change);
    p.post(
        modify,
        &format!("{TOKENS}/{token}/modify"),
        json!({"ActIntentKey": "stale"}),
    ); // 409
    let resync = "/api/v1/tokens/{TokenId}/resync";
    p.post(
        resync,
        "/api/v1/tokens/HW-1/resync",
        json!({"Code1": "123456", "Code2": "654321"}),
    );
    let dlt = p.post(
        INQUIRY,
        INQUIRY,
        json!({"TokenId": "HW-1", "ActIntent": "Dlt"}),
    );
    let delete = "/api/v1/tokens/{TokenId}/delete";
    p.post(
        delete,
        "/api/v1/tokens/HW-1/delete",
        json!({"ActIntentKey": dlt["ActIntentKey"]}),
    );
    p.post(
        "/api/v1/tempcode",
        "/api/v1/tempcode",
        json!({"UsrName": "Ola"}),
    );
    // No key: 401 with the fault body.
    let anonymous = json_of(ureq::post(&format!("{}{INQUIRY}", p.server.base)).send_string("{}"));
    assert_eq!(anonymous.0, 401);
    conforms(&p.doc, "post", INQUIRY, anonymous);
}

#[test]
fn validation_and_oob_answers_match_their_schemas() {
    let p = Probe::start();
    p.post(
        TOKENS,
        TOKENS,
        json!({"UsrName": "Jane Doe", "TokenType": "Software", "PhoneNum": "4175556652"}),
    );
    let (active, seed, step) = p.server.enroll_active("Jane Doe");
    let code = crate::support::totp(&seed, "SHA1", 6, step + 1);
    let ok = p.post(VALIDATE, VALIDATE, json!({"TokenId": active, "Code": code}));
    assert_eq!(ok["RsStat"], "Success", "{ok}");
    p.post(
        VALIDATE,
        VALIDATE,
        json!({"UsrName": "Jane Doe", "Code": "12345"}),
    ); // 422
       // The fifth wrong code answers Locked with the SMS fallback (the user has a phone).
    let mut locked = Value::Null;
    for _ in 0..5 {
        locked = p.post(
            VALIDATE,
            VALIDATE,
            json!({"UsrName": "Jane Doe", "Code": "000000"}),
        );
    }
    assert_eq!(locked["RsStat"], "Locked", "{locked}");
    let alrt = locked["OOB"]["AlrtPkgId"].as_str().unwrap().to_owned();
    p.get("/api/v1/oob/{AlrtPkgId}", &format!("/api/v1/oob/{alrt}"));
    let verify = "/api/v1/oob/{AlrtPkgId}/verify";
    p.post(
        verify,
        &format!("/api/v1/oob/{alrt}/verify"),
        json!({"OTP": "x"}),
    ); // 422
    p.post(
        verify,
        &format!("/api/v1/oob/{alrt}/verify"),
        json!({"OTP": "000000"}),
    );
    let resend = "/api/v1/oob/{AlrtPkgId}/resend";
    p.post(resend, &format!("/api/v1/oob/{alrt}/resend"), json!({})); // 409: ended
    let oob = "/api/v1/oob";
    p.post(
        oob,
        oob,
        json!({"PhoneNum": "4175556652", "OOBModeType": "OneWay"}),
    );
    p.post(oob, oob, json!({"PhoneNum": "4175556652", "ExpSec": 5})); // 422
    let sms = crate::support::create_key(&p.server.data_dir, "openapi-sms", "sms");
    let inbound = "/api/v1/sms/inbound";
    p.post_as(
        &sms,
        inbound,
        inbound,
        json!({"From": "+14175556652", "Body": "STOP"}),
    );
    p.post(inbound, inbound, json!({"From": "1", "Body": ""})); // 403: scope
    p.get("/api/v1/events", "/api/v1/events?after=0");
    p.get("/api/v1/sms/outbox", "/api/v1/sms/outbox?after=0");
    p.get("/api/v1/sms/outbox", "/api/v1/sms/outbox?after=-1"); // 400
    p.get("/api/v1/audit", "/api/v1/audit?Limit=5");
    p.get("/api/v1/audit", "/api/v1/audit?Limit=0"); // 400
}

#[test]
fn the_schema_check_can_fail() {
    let server = TestServer::start();
    let doc = document(&server);
    let (status, mut rs) = server.post(
        "/api/v1/tokens",
        &json!({"UsrName": "Kari", "TokenType": "Software"}),
    );
    let schema = answer_schema(&doc, "post", "/api/v1/tokens", status);
    assert!(validate(&doc, &schema, &rs).is_empty());
    rs["UsrTokenStat"] = json!("Active");
    rs.as_object_mut().unwrap().remove("TokenId");
    let errors = validate(&doc, &schema, &rs);
    assert_eq!(errors.len(), 2, "{errors:?}");
    let fault = json!({"MsgRsHdr": {"jXchangeHdr": {}, "MsgRecInfoArray": []}});
    assert!(!validate(
        &doc,
        &answer_schema(&doc, "post", "/api/v1/tokens", 400),
        &fault
    )
    .is_empty());
}

/// Issue 29: every operation that takes an `Idempotency-Key` declares it (with the
/// server's limits), and the replay marker on the answers a retry may get again; the
/// SMS provider's webhook, whose body is not a jXchange request, does not. A real replay
/// carries the declared header on a declared answer, and a key past the declared
/// length is refused as the description says.
#[test]
fn the_idempotency_key_and_its_replay_marker_are_declared() {
    let server = TestServer::start();
    let doc = document(&server);
    let mut keyed = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("post") else { continue };
        let param = op["parameters"].as_array().and_then(|ps| {
            ps.iter()
                .find(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
        });
        if path == "/api/v1/sms/inbound" {
            assert!(param.is_none(), "the SMS webhook takes no key");
            continue;
        }
        let param = param.unwrap_or_else(|| panic!("POST {path} does not declare the key"));
        assert_eq!(param["required"], false, "{path}");
        let schema = &param["schema"];
        assert_eq!(
            (&schema["minLength"], &schema["maxLength"]),
            (&json!(1), &json!(255)),
            "{path}"
        );
        let re = regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
        assert!(re.is_match("550e8400-e29b-41d4-a716-446655440000") && !re.is_match("a b"));
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.contains_key("409") && responses.contains_key("422"),
            "{path}: 7014, 7013"
        );
        for (status, answer) in responses {
            let marked = answer["headers"]["Idempotent-Replayed"].is_object();
            let stored = status != "429" && !status.starts_with('5');
            assert_eq!(marked, stored, "POST {path} {status}");
        }
        keyed.push(path.clone());
    }
    assert!(keyed.len() >= 15, "{keyed:?}");
    assert!(keyed.contains(&"/api/v1/validate".to_owned()));

    // A real replay: the marker the document declares, on a status it declares it for.
    let body = json!({"UsrName": "ada", "TokenType": "Software"});
    let post = |idem: &str| {
        crate::idempotency::post_idem(&server.base, &server.key, "/api/v1/tokens", idem, &body)
    };
    assert!(!post("doc-1").replayed);
    let again = post("doc-1");
    assert!(again.replayed && again.status == 200);
    let declared = &doc["paths"]["/api/v1/tokens"]["post"]["responses"]["200"]["headers"];
    assert_eq!(
        declared["Idempotent-Replayed"]["schema"]["enum"],
        json!(["true"])
    );
    let long = post(&"k".repeat(256));
    assert_eq!((long.status, fault(&long.body).0), (400, "7001".to_owned()));
}

/// Every operation of the document as (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((method.clone(), path.clone(), op.clone()));
        }
    }
    ops
}

/// Calls `method path` with `key` (a POST with the body `{}`): status and JSON body.
fn call_as(server: &TestServer, key: &str, method: &str, path: &str) -> (u16, Value) {
    let url = format!("{}{path}", server.base);
    let auth = format!("Bearer {key}");
    match method {
        "get" => json_of(ureq::get(&url).set("Authorization", &auth).call()),
        _ => server.post_as(key, path, &json!({})),
    }
}

/// `path` with each `{Element}` replaced by its documented example.
fn instance(op: &Value, path: &str) -> String {
    let mut out = path.to_owned();
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] == "path" {
            let name = p["name"].as_str().unwrap();
            let example = p["example"].as_str().expect("path parameter example");
            out = out.replace(&format!("{{{name}}}"), example);
        }
    }
    out
}

/// Each operation's `security` names exactly the scope its handler checks: a key with
/// every other scope is refused with fault 7011 before its (empty) body is read, and a
/// key with the declared scope is not. The scope check comes first in every handler
/// (`Call::admit`), which is what makes an empty body a fair probe.
#[test]
fn each_operation_declares_the_scope_its_handler_checks() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<(&str, String)> = ["manage", "validate", "sms"]
        .into_iter()
        .map(|s| (s, create_key(dir.path(), &format!("only-{s}"), s)))
        .collect();
    let mut server = TestServer::start_in(dir.path(), &[]).expect("server starts");
    let doc = document(&server);
    server.keep_dir(dir);
    for (method, path, op) in operations(&doc) {
        if op["operationId"] == "OpenAPIDocInq" {
            continue;
        }
        let declared: Vec<&str> = match op["security"].as_array().map(Vec::as_slice) {
            Some([only]) => only["bearer"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path}: {only}"))
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect(),
            other => panic!("{method} {path}: security {other:?}"),
        };
        assert_eq!(declared.len(), 1, "{method} {path}: {declared:?}");
        let target = instance(&op, &path);
        for (scope, key) in &keys {
            let (status, rs) = call_as(&server, key, &method, &target);
            let refused = status == 403 && fault(&rs).0 == "7011";
            assert_eq!(
                refused,
                !declared.contains(scope),
                "{method} {path} with a {scope} key answered {status} {rs}"
            );
        }
    }
}

/// The request schemas are as strict as the handlers: what they refuse as missing is
/// `required` (and really refused), what they parse with a form has its pattern.
#[test]
fn request_schemas_require_what_the_server_requires() {
    let server = TestServer::start();
    let doc = document(&server);
    let schemas = &doc["components"]["schemas"];
    let required = |schema: &str, elem: &str| {
        schemas[schema]["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|e| e == elem))
    };
    assert!(required("UsrPhoneModRq", "ActIntentKey"));
    assert!(required("UsrHoldLiftRq", "Rsn"));
    assert!(required("UsrAddRq", "UsrName"));
    assert_eq!(
        schemas["UsrAddRq"]["properties"]["UsrName"]["pattern"],
        schemas["MFATokenAddRq"]["properties"]["UsrName"]["pattern"]
    );
    // And the server does refuse them, naming the element.
    let (status, _) = server.post("/api/v1/users", &json!({"UsrName": "Ann"}));
    assert_eq!(status, 200);
    let (status, rs) = server.post(
        "/api/v1/users/Ann/phone",
        &json!({"PhoneNum": "5551234567"}),
    );
    assert!((400..500).contains(&status), "{status} {rs}");
    assert_eq!(fault(&rs), ("3103".into(), Some("ActIntentKey".into())));
    for body in [json!({}), json!({"Rsn": "  "})] {
        let (status, rs) = server.post("/api/v1/users/Ann/hold/lift", &body);
        assert!((400..500).contains(&status), "{status} {rs}");
        assert_eq!(fault(&rs), ("3103".into(), Some("Rsn".into())), "{body}");
    }
    let (status, rs) = server.post("/api/v1/users", &json!({"UsrName": "Ann"}));
    assert_eq!((status, fault(&rs).0.as_str()), (409, "7036"), "{rs}");
}

/// Every `$ref`'d schema name reachable from `v`.
fn schema_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name.to_owned());
            }
            map.values().for_each(|x| schema_refs(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| schema_refs(x, out)),
        _ => {}
    }
}

/// Every property or parameter named `…Dt` in `v`, with its schema.
fn dt_elements(v: &Value, at: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) => {
            for (name, schema) in map
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if name.ends_with("Dt") {
                    out.push((format!("{at}.{name}"), schema.clone()));
                }
            }
            if let (Some(name), Some(schema)) =
                (map.get("name").and_then(Value::as_str), map.get("schema"))
            {
                if name.ends_with("Dt") && map.contains_key("in") {
                    out.push((format!("{at} parameter {name}"), schema.clone()));
                }
            }
            for (k, x) in map {
                dt_elements(x, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| dt_elements(x, at, out)),
        _ => {}
    }
}

/// What generators rely on: path parameters under their element names with the
/// parsers' patterns, `date-time` on every `…Dt`, QR answers as images, `servers`, no
/// schema no operation uses, named fault codes, and each operation's fault codes.
#[test]
fn element_names_patterns_media_and_no_twins() {
    let server = TestServer::start();
    let doc = document(&server);
    assert!(
        doc["servers"].as_array().is_some_and(|s| !s.is_empty()),
        "servers"
    );
    path_elements_are_named_and_patterned(&doc);

    // `…Dt` elements are times.
    let mut dts = Vec::new();
    dt_elements(&doc, "", &mut dts);
    assert!(dts.len() > 10, "{dts:?}");
    for (at, schema) in dts {
        assert_eq!(schema["format"], "date-time", "{at}: {schema}");
    }

    // The QR answers are images.
    let qr = |ext: &str, media: &str| {
        doc["paths"][format!("/api/v1/tokens/{{TokenId}}/qr.{ext}")]["get"]["responses"]["200"]
            ["content"][media]["schema"]
            .clone()
    };
    assert_eq!(
        qr("png", "image/png"),
        json!({"type": "string", "format": "binary"})
    );
    assert_eq!(qr("svg", "image/svg+xml")["type"], "string");

    every_schema_is_used(&doc);
    fault_codes_are_named_and_listed(&doc);
}

/// Path parameters: the element's name, a pattern (its example matching), the same
/// pattern its body form has.
fn path_elements_are_named_and_patterned(doc: &Value) {
    let schemas = &doc["components"]["schemas"];
    let body_pattern = |elem: &str| match elem {
        "TokenId" => schemas["MFATokenAddRq"]["properties"]["TokenId"]["pattern"].clone(),
        "UsrName" => schemas["UsrAddRq"]["properties"]["UsrName"]["pattern"].clone(),
        _ => Value::Null,
    };
    for (method, path, op) in operations(doc) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["in"] != "path" {
                continue;
            }
            let name = p["name"].as_str().unwrap();
            assert!(
                PATH_ELEMENTS.iter().any(|(_, e)| *e == name),
                "{method} {path}: path parameter {name}"
            );
            let pattern = p["schema"]["pattern"].as_str().expect("pattern");
            let example = p["example"].as_str().expect("example");
            let re = regex::Regex::new(pattern).unwrap();
            assert!(re.is_match(example), "{name}: {example} against {pattern}");
            let body = body_pattern(name);
            if !body.is_null() {
                assert_eq!(p["schema"]["pattern"], body, "{method} {path}: {name}");
            }
        }
    }
}

/// No twin: every schema in components is reached from an operation.
fn every_schema_is_used(doc: &Value) {
    let schemas = &doc["components"]["schemas"];
    let mut reached = BTreeSet::new();
    let mut todo = Vec::new();
    schema_refs(&doc["paths"], &mut todo);
    while let Some(name) = todo.pop() {
        if reached.insert(name.clone()) {
            schema_refs(&schemas[&name], &mut todo);
        }
    }
    let unused: Vec<&String> = schemas
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !reached.contains(*k))
        .collect();
    assert!(unused.is_empty(), "schemas no operation uses: {unused:?}");
}

/// `ErrCode` names and describes its values; each operation lists its fault codes.
fn fault_codes_are_named_and_listed(doc: &Value) {
    let schemas = &doc["components"]["schemas"];

    // ErrCode: every value named and described, names usable as identifiers.
    let err_code = &schemas["MsgRec"]["properties"]["ErrCode"];
    let codes = err_code["enum"].as_array().unwrap();
    let names = err_code["x-enum-varnames"].as_array().unwrap();
    assert_eq!(names.len(), codes.len());
    assert_eq!(
        err_code["x-enum-descriptions"].as_array().unwrap().len(),
        codes.len()
    );
    let unique: BTreeSet<&str> = names.iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(unique.len(), names.len(), "duplicate names");
    let ident = regex::Regex::new("^[A-Z][A-Za-z0-9]*$").unwrap();
    assert!(unique.iter().all(|n| ident.is_match(n)), "{unique:?}");
    let at = codes.iter().position(|c| c == "7036").unwrap();
    assert_eq!(names[at], "DuplicateUsrName");

    // Each operation lists its fault codes: the union of its fault responses' lists,
    // each a known code answered with that response's status.
    for (method, path, op) in operations(doc) {
        if op["operationId"] == "OpenAPIDocInq" {
            continue;
        }
        let listed: BTreeSet<&str> = op["x-jxchange-faults"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path}: no x-jxchange-faults"))
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let mut union = BTreeSet::new();
        for (status, r) in op["responses"].as_object().unwrap() {
            if status == "200" {
                continue;
            }
            let own = r["x-jxchange-faults"].as_array().expect("fault list");
            for code in own {
                assert!(codes.contains(code), "{method} {path} {status}: {code}");
                union.insert(code.as_str().unwrap());
            }
        }
        assert_eq!(listed, union, "{method} {path}");
    }
    let add_user = &doc["paths"]["/api/v1/users"]["post"];
    let conflicts = add_user["responses"]["409"]["x-jxchange-faults"]
        .as_array()
        .unwrap();
    assert!(conflicts.contains(&json!("7036")), "{conflicts:?}");
}
