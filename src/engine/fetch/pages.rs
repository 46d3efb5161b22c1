//! Pagination: where a listing stands (a page number, an offset, a cursor, a next link), the
//! request for the next page, and the `rel="next"` target of a `Link` header.

use serde_json::Value;

use crate::client::Request;
use crate::jsonpath::scalar_text;
use crate::playbook::compile::PageStyle;

/// Where pagination stands.
pub(super) enum PageState {
    None,
    Page(u64),
    Offset(u64),
    Cursor(Option<String>),
    Link(Option<url::Url>),
}

impl PageState {
    pub(super) fn start(style: Option<&PageStyle>) -> PageState {
        match style {
            None => PageState::None,
            Some(PageStyle::Page { start, .. }) => PageState::Page(*start),
            Some(PageStyle::Offset { .. }) => PageState::Offset(0),
            Some(PageStyle::Cursor { .. }) => PageState::Cursor(None),
            Some(PageStyle::NextLinkPath(_) | PageStyle::NextLinkHeader(_)) => {
                PageState::Link(None)
            }
        }
    }

    pub(super) fn apply(&self, style: Option<&PageStyle>, base: &Request) -> Request {
        let mut req = base.clone();
        match (self, style) {
            (
                PageState::Page(n),
                Some(PageStyle::Page {
                    param,
                    size_param,
                    size,
                    ..
                }),
            ) => {
                set_query(&mut req.url, param, &n.to_string());
                if let (Some(sp), Some(size)) = (size_param, size) {
                    set_query(&mut req.url, sp, &size.to_string());
                }
            }
            (
                PageState::Offset(o),
                Some(PageStyle::Offset {
                    param,
                    limit_param,
                    size,
                }),
            ) => {
                set_query(&mut req.url, param, &o.to_string());
                set_query(&mut req.url, limit_param, &size.to_string());
            }
            (
                PageState::Cursor(Some(c)),
                Some(PageStyle::Cursor {
                    param,
                    in_body: true,
                    ..
                }),
            ) => {
                let mut body = match req.body.take() {
                    Some(Value::Object(m)) => m,
                    _ => serde_json::Map::new(),
                };
                body.insert(param.clone(), Value::String(c.clone()));
                req.body = Some(Value::Object(body));
            }
            (PageState::Cursor(Some(c)), Some(PageStyle::Cursor { param, .. })) => {
                set_query(&mut req.url, param, c)
            }
            (PageState::Link(Some(url)), _) => req.url = url.clone(),
            _ => {}
        }
        req
    }

    /// Advance past a page that held `count` items; the token of the next page, or None at the end.
    pub(super) fn next(
        &mut self,
        style: &PageStyle,
        count: u64,
        json: &Value,
        response: Option<&crate::client::Response>,
        current: &url::Url,
    ) -> Option<String> {
        match (self, style) {
            (PageState::Page(n), PageStyle::Page { size, .. }) => {
                if count == 0 || size.is_some_and(|s| count < s) {
                    return None;
                }
                // Checked: `start` is the playbook's; past u64 there is no next page to ask for.
                *n = n.checked_add(1)?;
                Some(format!("page {n}"))
            }
            (PageState::Offset(o), PageStyle::Offset { size, .. }) => {
                if count < *size {
                    return None;
                }
                *o = o.checked_add(*size)?;
                Some(format!("offset {o}"))
            }
            (PageState::Cursor(c), PageStyle::Cursor { next, .. }) => {
                let token = next
                    .first(json)
                    .and_then(scalar_text)
                    .filter(|t| !t.is_empty())?;
                *c = Some(token.clone());
                Some(token)
            }
            (PageState::Link(l), PageStyle::NextLinkPath(path)) => {
                let link = path.first_text(json).filter(|t| !t.is_empty())?;
                let url = current.join(&link).ok()?;
                *l = Some(url.clone());
                Some(url.to_string())
            }
            (PageState::Link(l), PageStyle::NextLinkHeader(header)) => {
                let value = response?.header(header)?;
                let link = next_from_link_header(value)?;
                let url = current.join(&link).ok()?;
                *l = Some(url.clone());
                Some(url.to_string())
            }
            _ => None,
        }
    }
}

/// Set query parameter `name` to `value`, replacing any value it had.
fn set_query(url: &mut url::Url, name: &str, value: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut pairs = url.query_pairs_mut();
    pairs.clear();
    for (k, v) in &kept {
        pairs.append_pair(k, v);
    }
    pairs.append_pair(name, value);
}

/// The `rel="next"` target of an RFC 8288 `Link` header. Links are told apart by their `<`, not by
/// commas, since a target may hold commas (`?status=failed,timed_out`); a `rel` may name several
/// relations (`rel="next last"`).
pub(crate) fn next_from_link_header(value: &str) -> Option<String> {
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let params = &after[close + 1..];
        let end = params.find('<').unwrap_or(params.len());
        let is_next = params[..end].split([';', ',']).any(|param| {
            param.split_once('=').is_some_and(|(name, rels)| {
                name.trim().eq_ignore_ascii_case("rel")
                    && rels
                        .trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(after[..close].trim().to_string());
        }
        rest = &params[end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next_is_found() {
        let v = r#"<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next""#;
        assert_eq!(
            next_from_link_header(v).as_deref(),
            Some("https://a/x?page=3")
        );
        assert_eq!(
            next_from_link_header(r#"<https://a/x?page=1>; rel="prev""#),
            None
        );
        let commas = r#"<https://a/x?s=a,b&page=1>; rel="first", <https://a/x?s=a,b&page=2>; rel="next last""#;
        assert_eq!(
            next_from_link_header(commas).as_deref(),
            Some("https://a/x?s=a,b&page=2")
        );
    }
}
