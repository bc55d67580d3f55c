//! Reading a PSKC document into plain structures, deciding nothing yet: each data value
//! keeps its own `EncryptedValue`, `EncryptionMethod` and `ValueMAC`, so that the checks
//! after it can open and verify every value on its own. The reader refuses only what is
//! not a complete RFC 6030 document: XML that is not well-formed, a document that ends
//! before every element is closed (a truncated file), a pre-RFC draft format, a `Version`
//! other than 1.0.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use zeroize::Zeroizing;

/// The RFC 6030 namespace.
const PSKC_NS: &str = "urn:ietf:params:xml:ns:keyprov:pskc";

/// An `EncryptedValue`: its algorithm URI and base64 `CipherValue`.
#[derive(Default)]
pub(super) struct Encrypted {
    pub method: Option<String>,
    pub cipher: String,
}

/// One data value (`Secret`, `Counter`, `Time`, `TimeInterval`, `TimeDrift`).
#[derive(Default)]
pub(super) struct Value {
    pub plain: Option<Zeroizing<String>>,
    pub encrypted: Option<Encrypted>,
    pub mac: Option<String>,
}

/// The data values of a key, by element name.
pub(super) const FIELDS: [&str; 5] = ["Secret", "Counter", "Time", "TimeInterval", "TimeDrift"];

/// One `KeyPackage` as written.
#[derive(Default)]
pub(super) struct RawKey {
    pub serial: Option<String>,
    pub key_id: Option<String>,
    pub algorithm: String,
    pub suite: Option<String>,
    /// `ResponseFormat` attributes.
    pub digits: Option<String>,
    pub encoding: Option<String>,
    pub check_digits: Option<String>,
    /// Data values, in the order of [`FIELDS`].
    pub values: [Option<Value>; 5],
    pub key_reference: Option<String>,
    pub key_profile: Option<String>,
    pub start_date: Option<String>,
    pub expiry_date: Option<String>,
    pub pin_usage: Option<String>,
    pub key_usage: Vec<String>,
    /// Policy elements and attributes tokend does not understand or cannot honour.
    pub policy_unknown: Vec<String>,
}

impl RawKey {
    /// The value of the data element `name` (one of [`FIELDS`]), if the key has it.
    pub fn value(&self, name: &str) -> Option<&Value> {
        let i = FIELDS.iter().position(|f| *f == name)?;
        self.values[i].as_ref()
    }
}

/// How the file's encryption key is given (`EncryptionKey`).
#[derive(Default, PartialEq, Eq, Debug)]
pub(super) enum KeySource {
    /// No `EncryptionKey`, or a `ds:KeyName`: a pre-shared key.
    #[default]
    PreShared,
    /// `DerivedKey` with PBKDF2.
    Pbkdf2,
    /// A derivation other than PBKDF2, named.
    OtherDerivation(String),
    /// An asymmetric key (`ds:X509Data`, `ds:KeyValue`, …), named by its element.
    Asymmetric(String),
}

/// The document as written.
#[derive(Default)]
pub(super) struct RawFile {
    pub key_source: KeySource,
    pub salt: Option<String>,
    pub iterations: Option<String>,
    pub key_length: Option<String>,
    pub prf: Option<String>,
    pub mac_method: Option<String>,
    pub mac_key: Option<Encrypted>,
    pub keys: Vec<RawKey>,
}

/// Policy children RFC 6030 §5 defines.
const POLICY: [&str; 5] = [
    "StartDate",
    "ExpiryDate",
    "KeyUsage",
    "PINPolicy",
    "NumberOfTransactions",
];
/// `PINPolicy` attributes RFC 6030 §5 defines.
const PIN_ATTRS: [&str; 6] = [
    "PINKeyId",
    "PINUsageMode",
    "MaxFailedAttempts",
    "MinLength",
    "MaxLength",
    "PINEncoding",
];

/// An attribute by local name (a prefix, if any, is ignored), unescaped.
fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// The reader's state: the open elements and what was read so far.
struct State {
    stack: Vec<String>,
    raw: RawFile,
    root_seen: bool,
}

impl State {
    /// Whether the reader is inside an element of this name.
    fn within(&self, name: &str) -> bool {
        self.stack.iter().any(|s| s == name)
    }

    /// The innermost open element.
    fn parent(&self) -> &str {
        self.stack.last().map_or("", String::as_str)
    }

    /// The data value being read: the child of `Data` the reader is inside.
    fn value_mut(&mut self) -> Option<&mut Value> {
        let at = self.stack.iter().position(|s| s == "Data")?;
        let i = FIELDS
            .iter()
            .position(|f| Some(*f) == self.stack.get(at + 1).map(String::as_str))?;
        let key = self.raw.keys.last_mut()?;
        Some(key.values[i].get_or_insert_with(Value::default))
    }

    /// Checks the root element: RFC 6030's `KeyContainer`, its namespace, Version 1.0.
    fn root(&mut self, e: &BytesStart<'_>) -> Result<(), String> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let prefix = e
            .name()
            .prefix()
            .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned());
        let ns_attr = prefix.map_or("xmlns".to_owned(), |p| format!("xmlns:{p}"));
        let ns = e
            .attributes()
            .flatten()
            .find(|a| a.key.as_ref() == ns_attr.as_bytes())
            .map(|a| String::from_utf8_lossy(&a.value).into_owned())
            .unwrap_or_default();
        if name != "KeyContainer" {
            return Err(format!(
                "the root element is {name}, not KeyContainer: not a PSKC file"
            ));
        }
        if ns.trim() != PSKC_NS {
            return Err(draft(&format!("namespace {ns:?}")));
        }
        match attr(e, b"Version") {
            Some(v) if v.trim() == "1.0" => Ok(()),
            Some(v) => Err(format!("Version {v:?}: PSKC 1.0 (RFC 6030) expected")),
            None => Err(draft("no Version attribute")),
        }
    }

    /// An opening (or empty) element: notes what its attributes say.
    fn start(&mut self, e: &BytesStart<'_>) -> Result<(), String> {
        if !self.root_seen {
            self.root_seen = true;
            return self.root(e);
        }
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let parent = self.parent().to_owned();
        match name.as_str() {
            "Device" if parent == "KeyContainer" => return Err(draft("Device element")),
            "KeyPackage" => self.raw.keys.push(RawKey::default()),
            "Key" if parent == "KeyPackage" => {
                if let Some(k) = self.raw.keys.last_mut() {
                    k.key_id = attr(e, b"Id");
                    k.algorithm = attr(e, b"Algorithm").unwrap_or_default();
                }
            }
            "ResponseFormat" => {
                if let Some(k) = self.raw.keys.last_mut() {
                    k.digits = attr(e, b"Length");
                    k.encoding = attr(e, b"Encoding");
                    k.check_digits = attr(e, b"CheckDigits").or_else(|| attr(e, b"CheckDigit"));
                }
            }
            "EncryptedValue" => {
                if let Some(v) = self.value_mut() {
                    v.encrypted = Some(Encrypted::default());
                }
            }
            "EncryptionMethod" if parent == "EncryptedValue" => {
                let method = attr(e, b"Algorithm");
                if let Some(enc) = self.value_mut().and_then(|v| v.encrypted.as_mut()) {
                    enc.method = method;
                }
            }
            "EncryptionMethod" if parent == "MACKey" => {
                self.raw
                    .mac_key
                    .get_or_insert_with(Encrypted::default)
                    .method = attr(e, b"Algorithm");
            }
            "MACMethod" => self.raw.mac_method = attr(e, b"Algorithm"),
            "KeyDerivationMethod" => {
                let alg = attr(e, b"Algorithm").unwrap_or_default();
                self.raw.key_source = if alg.ends_with("#pbkdf2") {
                    KeySource::Pbkdf2
                } else {
                    KeySource::OtherDerivation(alg)
                };
            }
            "PRF" => self.raw.prf = attr(e, b"Algorithm"),
            "X509Data" | "KeyValue" | "RSAKeyValue" | "RetrievalMethod" | "EncryptedKey"
                if self.within("EncryptionKey") =>
            {
                self.raw.key_source = KeySource::Asymmetric(name.clone());
            }
            _ => {}
        }
        self.policy_start(&name, &parent, e);
        Ok(())
    }

    /// Notes the policy elements and attributes tokend does not understand (RFC 6030 §5:
    /// a key with one "MUST be treated as not permitted").
    fn policy_start(&mut self, name: &str, parent: &str, e: &BytesStart<'_>) {
        let Some(k) = self.raw.keys.last_mut() else {
            return;
        };
        if parent == "Policy" && !POLICY.contains(&name) {
            k.policy_unknown.push(format!("Policy element {name}"));
        }
        if parent == "PINPolicy" {
            k.policy_unknown.push(format!("PINPolicy element {name}"));
        }
        if name == "PINPolicy" {
            k.pin_usage = attr(e, b"PINUsageMode");
            for a in e.attributes().flatten() {
                let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
                if !PIN_ATTRS.contains(&key.as_str()) && a.key.prefix().is_none() {
                    k.policy_unknown.push(format!("PINPolicy attribute {key}"));
                }
            }
        }
    }

    /// Text content, stored where the open elements say it belongs.
    fn text(&mut self, text: String) {
        let last = self.parent().to_owned();
        let in_policy = self.within("Policy");
        match last.as_str() {
            "Specified" if self.within("Salt") => self.raw.salt = Some(text),
            "IterationCount" => self.raw.iterations = Some(text),
            "KeyLength" => self.raw.key_length = Some(text),
            "CipherValue" if self.within("MACKey") => {
                self.raw
                    .mac_key
                    .get_or_insert_with(Encrypted::default)
                    .cipher = text;
            }
            "CipherValue" => {
                if let Some(enc) = self.value_mut().and_then(|v| v.encrypted.as_mut()) {
                    enc.cipher = text;
                }
            }
            "PlainValue" => {
                if let Some(v) = self.value_mut() {
                    v.plain = Some(Zeroizing::new(text));
                }
            }
            "ValueMAC" => {
                if let Some(v) = self.value_mut() {
                    v.mac = Some(text);
                }
            }
            _ => self.key_text(&last, in_policy, text),
        }
    }

    /// Text content that belongs to the key itself (serial, suite, policy).
    fn key_text(&mut self, last: &str, in_policy: bool, text: String) {
        let Some(k) = self.raw.keys.last_mut() else {
            return;
        };
        match last {
            "SerialNo" => k.serial = Some(text),
            "Suite" => k.suite = Some(text),
            "KeyReference" => k.key_reference = Some(text),
            "KeyProfileId" => k.key_profile = Some(text),
            "KeyUsage" if in_policy => k.key_usage.push(text),
            "StartDate" if in_policy => k.start_date = Some(text),
            "ExpiryDate" if in_policy => k.expiry_date = Some(text),
            "NumberOfTransactions" if in_policy => k.policy_unknown.push(format!(
                "NumberOfTransactions {text}: tokend cannot limit a key's uses"
            )),
            _ => {}
        }
    }
}

/// The refusal of a pre-RFC 6030 draft file, saying what gave it away.
fn draft(why: &str) -> String {
    format!(
        "a pre-RFC 6030 draft PSKC format ({why}): tokend reads RFC 6030 files \
         (KeyContainer Version=\"1.0\" in {PSKC_NS}); ask the vendor for one"
    )
}

/// Reads a whole document. `Err` is the reason the file is refused.
pub(super) fn read_xml(xml: &str) -> Result<RawFile, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut st = State {
        stack: Vec::new(),
        raw: RawFile::default(),
        root_seen: false,
    };
    loop {
        let at = reader.buffer_position();
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                st.start(&e)?;
                st.stack
                    .push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
            }
            Ok(Event::Empty(e)) => st.start(&e)?,
            Ok(Event::End(_)) => {
                st.stack.pop();
            }
            Ok(Event::Text(t)) => {
                let text = t
                    .unescape()
                    .map_err(|_| not_xml(at, &"an unknown entity or a bad escape"))?;
                st.text(text.trim().to_owned());
            }
            Ok(Event::CData(t)) => st.text(String::from_utf8_lossy(&t).trim().to_owned()),
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(_) if reader.buffer_position() >= xml.len() as u64 => {
                return Err("the file ends inside a tag: truncated; nothing is imported".into())
            }
            Err(e) => return Err(not_xml(at, &e)),
        }
    }
    finish(st)
}

/// The end of the input: every element must have been closed.
fn finish(st: State) -> Result<RawFile, String> {
    if !st.root_seen {
        return Err("no KeyContainer: not a PSKC file".into());
    }
    if let Some(open) = st.stack.last() {
        return Err(format!(
            "the file ends inside <{open}> ({} elements not closed): truncated; nothing \
             is imported",
            st.stack.len()
        ));
    }
    if st.raw.keys.is_empty() {
        return Err("no KeyPackage in the PSKC file".into());
    }
    Ok(st.raw)
}

/// The refusal of a file that is not well-formed XML. The parser's message names
/// elements only, never text, so no secret can reach it.
fn not_xml(at: u64, e: &dyn std::fmt::Display) -> String {
    format!("not well-formed XML near byte {at} ({e}); nothing is imported")
}
