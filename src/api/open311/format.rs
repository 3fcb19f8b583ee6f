//! The two encodings of one Open311 document: JSON (serde_json) and XML
//! (quick-xml), chosen by the path's extension as GeoReport v2 says
//! (`/services.xml`, `/requests/K-1.json`).
//!
//! A response is one serde model. The spec's JSON is a mechanical mapping
//! of its XML (the "Spark convention"): a list is a JSON array where the XML
//! has a plural element holding one singular element per item
//! (`<services><service>…`, `<formats><format>…`). [`Plural`] is that one
//! difference; everything else serialises the same way in both.

use std::cell::Cell;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use crate::api::error::{ApiError, ErrorText};

/// The encoding a client asked for with the path's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// `.xml` at the end of the path: XML; anything else: JSON (also the
    /// shape of the errors of a path that is no resource at all).
    pub fn of_path(path: &str) -> Format {
        if path.ends_with(".xml") {
            Format::Xml
        } else {
            Format::Json
        }
    }

    /// A path parameter with its extension (`K-1.xml`): the bare id and the
    /// format. An id without `.json` or `.xml` names no resource (404).
    pub fn split(param: &str) -> Result<(String, Format), ApiError> {
        if let Some(id) = param.strip_suffix(".json") {
            Ok((id.to_owned(), Format::Json))
        } else if let Some(id) = param.strip_suffix(".xml") {
            Ok((id.to_owned(), Format::Xml))
        } else {
            Err(ApiError::NotFound(format!(
                "{param:?}: end the path with .json or .xml"
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Format {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Format::of_path(parts.uri.path()))
    }
}

thread_local! {
    /// Set while [`encode`] writes XML on this thread, so that a
    /// [`Plural`] takes its XML shape; serialisation is synchronous, so the
    /// flag never outlives the call that set it.
    static WRITING_XML: Cell<bool> = const { Cell::new(false) };
}

/// A list: a JSON array; in XML, one `item` element per entry inside the
/// element the list is a field of (or the document's root).
#[derive(Debug, Clone)]
pub struct Plural<T> {
    item: &'static str,
    items: Vec<T>,
}

impl<T> Plural<T> {
    pub fn new(item: &'static str, items: Vec<T>) -> Self {
        Plural { item, items }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl<T: Serialize> Serialize for Plural<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if WRITING_XML.with(Cell::get) {
            let mut st = s.serialize_struct("Plural", 1)?;
            st.serialize_field(self.item, &self.items)?;
            st.end()
        } else {
            self.items.serialize(s)
        }
    }
}

/// A whole response document: its XML root element.
pub trait Document: Serialize {
    const ROOT: &'static str;
}

/// A list document (`<service_requests><request>…`): the entries' type
/// names the root and the item elements.
pub trait Listed: Serialize {
    /// The root element (`service_requests`).
    const LIST: &'static str;
    /// Each entry's element (`request`).
    const ITEM: &'static str;
}

/// A list of `T` as a whole document: a JSON array, or `T::LIST` holding
/// one `T::ITEM` per entry.
pub struct List<T>(pub Vec<T>);

impl<T: Listed> Serialize for List<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if WRITING_XML.with(Cell::get) {
            let mut st = s.serialize_struct("List", 1)?;
            st.serialize_field(T::ITEM, &self.0)?;
            st.end()
        } else {
            self.0.serialize(s)
        }
    }
}

impl<T: Listed> Document for List<T> {
    const ROOT: &'static str = T::LIST;
}

/// The bytes of `doc` in `format`: compact JSON, or indented UTF-8 XML
/// after the XML declaration the spec requires.
pub fn encode<D: Document>(format: Format, doc: &D) -> Result<Vec<u8>, ApiError> {
    match format {
        Format::Json => serde_json::to_vec(doc).map_err(|e| ApiError::Internal(e.to_string())),
        Format::Xml => {
            struct Reset;
            impl Drop for Reset {
                fn drop(&mut self) {
                    WRITING_XML.with(|x| x.set(false));
                }
            }
            WRITING_XML.with(|x| x.set(true));
            let _reset = Reset;
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
            let mut ser = quick_xml::se::Serializer::with_root(&mut out, Some(D::ROOT))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            ser.indent(' ', 2);
            doc.serialize(ser)
                .map_err(|e| ApiError::Internal(format!("XML of {}: {e}", D::ROOT)))?;
            out.push('\n');
            Ok(out.into_bytes())
        }
    }
}

/// The `Content-Type` of a format, as the spec writes it.
pub fn content_type(format: Format) -> HeaderValue {
    HeaderValue::from_static(match format {
        Format::Json => "application/json; charset=utf-8",
        Format::Xml => "text/xml; charset=utf-8",
    })
}

/// The fields of a POST: form-encoded, as the spec sends them, or a JSON
/// object.
pub async fn post_body<T: serde::de::DeserializeOwned>(
    req: axum::extract::Request,
) -> Result<T, ApiError> {
    use axum::extract::{Form, FromRequest};
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        Ok(crate::api::extract::J::<T>::from_request(req, &()).await?.0)
    } else {
        Form::<T>::from_request(req, &())
            .await
            .map(|f| f.0)
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// A handler's answer: a document in the format the path asked for.
pub struct Reply<D>(pub Format, pub D);

impl<D: Document> Reply<D> {
    /// The response with `status`.
    pub fn with_status(self, status: StatusCode) -> Response {
        match encode(self.0, &self.1) {
            Ok(body) => {
                (status, [(header::CONTENT_TYPE, content_type(self.0))], body).into_response()
            }
            Err(e) => e.into_response(),
        }
    }
}

impl<D: Document> IntoResponse for Reply<D> {
    fn into_response(self) -> Response {
        self.with_status(StatusCode::OK)
    }
}

/// One error of an `errors` document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SpecError {
    /// The HTTP status.
    pub code: u16,
    pub description: String,
}

impl Listed for SpecError {
    const LIST: &'static str = "errors";
    const ITEM: &'static str = "error";
}

/// An error response of the service in the spec's shape and `format`: the
/// same status, but 403 where the service says 401 (the spec: "403 for
/// errors because of wrong or missing api_key"). Other responses pass.
pub fn spec_error(format: Format, res: Response) -> Response {
    let Some(ErrorText(description)) = res.extensions().get::<ErrorText>().cloned() else {
        return res;
    };
    let status = match res.status() {
        StatusCode::UNAUTHORIZED => StatusCode::FORBIDDEN,
        s => s,
    };
    let retry = res.headers().get(header::RETRY_AFTER).cloned();
    let error = SpecError {
        code: status.as_u16(),
        description,
    };
    let mut out = Reply(format, List(vec![error])).with_status(status);
    if let Some(r) = retry {
        out.headers_mut().insert(header::RETRY_AFTER, r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Endpoint {
        url: &'static str,
        formats: Plural<&'static str>,
        note: Option<String>,
    }

    impl Listed for Endpoint {
        const LIST: &'static str = "endpoints";
        const ITEM: &'static str = "endpoint";
    }

    fn text(format: Format, doc: &List<Endpoint>) -> String {
        String::from_utf8(encode(format, doc).unwrap()).unwrap()
    }

    #[test]
    fn a_list_is_an_array_in_json_and_plural_and_singular_elements_in_xml() {
        let doc = List(vec![Endpoint {
            url: "http://x/v2?a=1&b=<2>",
            formats: Plural::new("format", vec!["text/xml", "application/json"]),
            note: None,
        }]);
        assert_eq!(
            text(Format::Json, &doc),
            r#"[{"url":"http://x/v2?a=1&b=<2>","formats":["text/xml","application/json"],"note":null}]"#
        );
        let xml = text(Format::Xml, &doc);
        let flat: String = xml.lines().map(str::trim).collect();
        assert_eq!(
            flat,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><endpoints><endpoint>\
             <url>http://x/v2?a=1&amp;b=&lt;2&gt;</url>\
             <formats><format>text/xml</format><format>application/json</format></formats>\
             <note/></endpoint></endpoints>"
        );
        // The flag is down again: JSON after XML is still JSON.
        assert!(text(Format::Json, &doc).starts_with("[{"));
    }

    #[test]
    fn an_empty_list_is_an_empty_root() {
        let xml = text(Format::Xml, &List(Vec::new()));
        assert!(
            xml.ends_with("<endpoints/>\n") || xml.ends_with("<endpoints></endpoints>\n"),
            "{xml}"
        );
        assert_eq!(text(Format::Json, &List(Vec::new())), "[]");
    }

    #[test]
    fn the_extension_chooses_the_format_and_names_no_part_of_the_id() {
        assert_eq!(
            Format::split("K-1.xml").unwrap(),
            ("K-1".into(), Format::Xml)
        );
        assert_eq!(
            Format::split("a.b.json").unwrap(),
            ("a.b".into(), Format::Json)
        );
        assert!(Format::split("K-1").is_err());
        assert_eq!(Format::of_path("/open311/v2/services.xml"), Format::Xml);
        assert_eq!(Format::of_path("/open311/v2/nothing"), Format::Json);
    }
}
