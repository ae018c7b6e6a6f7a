//! The AWS query protocol (IAM, STS): parameters in a form body, the answer in XML. The XML is
//! turned into JSON with the protocol's member names, as the `aws` CLI prints it: an element
//! with text is a string, one whose children are all `member` is a list, any other an object.

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::{Map, Value};

use crate::{Error, Result};

/// An element being read: its name, its children so far, its text so far.
#[derive(Default)]
struct Element {
    name: String,
    children: Vec<(String, Value)>,
    text: String,
}

impl Element {
    fn named(name: &[u8]) -> Self {
        Self {
            name: String::from_utf8_lossy(name).into_owned(),
            ..Self::default()
        }
    }

    fn into_value(self) -> (String, Value) {
        let value = if self.children.is_empty() {
            Value::String(self.text)
        } else if self.children.iter().all(|(n, _)| n == "member") {
            Value::Array(self.children.into_iter().map(|(_, v)| v).collect())
        } else {
            Value::Object(self.children.into_iter().collect::<Map<_, _>>())
        };
        (self.name, value)
    }
}

/// An XML document as JSON: `{"<root element>": …}`.
pub fn xml_to_json(xml: &[u8]) -> Result<Value> {
    let bad = |e: &dyn std::fmt::Display| Error::Protocol(format!("a malformed XML answer: {e}"));
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    // The elements open, inside a nameless one that collects the document element.
    let mut open = vec![Element::default()];
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| bad(&e))? {
            Event::Start(e) => open.push(Element::named(e.local_name().as_ref())),
            Event::Empty(e) => {
                let element = Element::named(e.local_name().as_ref()).into_value();
                if let Some(parent) = open.last_mut() {
                    parent.children.push(element);
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| bad(&e))?;
                let text = quick_xml::escape::unescape(&text).map_err(|e| bad(&e))?;
                if let Some(element) = open.last_mut() {
                    element.text.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                let reference = format!("&{};", r.decode().map_err(|e| bad(&e))?);
                let text = quick_xml::escape::unescape(&reference)
                    .map_err(|e| bad(&e))?
                    .into_owned();
                if let Some(element) = open.last_mut() {
                    element.text.push_str(&text);
                }
            }
            Event::End(_) => {
                let done = open.pop().ok_or_else(|| bad(&"unbalanced"))?.into_value();
                open.last_mut()
                    .ok_or_else(|| bad(&"unbalanced"))?
                    .children
                    .push(done);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let mut document = open.pop().ok_or_else(|| bad(&"empty"))?;
    if !open.is_empty() {
        return Err(bad(&"an element is not closed"));
    }
    let (name, value) = document.children.pop().ok_or_else(|| bad(&"no element"))?;
    Ok(Value::Object(Map::from_iter([(name, value)])))
}

/// The code and message of a query-protocol `<ErrorResponse>`.
pub(crate) fn error_of(xml: &[u8]) -> Option<(String, String)> {
    let json = xml_to_json(xml).ok()?;
    let error = json.get("ErrorResponse")?.get("Error")?;
    let text = |name: &str| error.get(name).and_then(Value::as_str).unwrap_or_default();
    Some((text("Code").to_owned(), text("Message").to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_objects_and_text() {
        let xml = br#"<ListUsersResponse xmlns="x"><ListUsersResult><Users><member><UserName>a&amp;b</UserName></member><member><UserName>c</UserName></member></Users><IsTruncated>false</IsTruncated></ListUsersResult></ListUsersResponse>"#;
        let json = xml_to_json(xml).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"ListUsersResponse": {"ListUsersResult": {
                "Users": [{"UserName": "a&b"}, {"UserName": "c"}],
                "IsTruncated": "false"
            }}})
        );
        let e = br#"<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>user x does not exist</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
        assert_eq!(
            error_of(e),
            Some(("NoSuchEntity".into(), "user x does not exist".into()))
        );
        assert!(xml_to_json(b"<a><b></a>").is_err());
    }
}
