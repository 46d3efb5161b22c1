//! Turning a compiled request template and a context into a request ready to send.
//!
//! Invariant: a request is only ever built for a URL whose path has the template's shape. Item
//! values (ids, fields, a step's answers: anything a provider wrote) come back from
//! [`Templates::render_path`] marked, and before anything is sent:
//!
//! - a value in the path holds none of `/`, `\` (a slash to URL parsers), `?`, `#`, nor a control
//!   character (the url crate drops tabs and newlines); in the query no `#` and no control
//!   character; so the path has exactly the template's segments. (`%2F` is let through: it is
//!   exactly what `urlencode` makes of `/`, and a server that decodes it before routing would be
//!   as lost with an encoded id.)
//! - no segment holding a value is empty, `.` or `..` (`%2e` counting as a dot, as URL parsers
//!   read it);
//! - the url crate's parse kept every segment: none was normalised away or emptied.
//!
//! A violation is an error for that item (or that fetch request) naming the value and the path:
//! nothing is sent. `{{ task.id | urlencode }}` always passes but for `.`, `..` and empty ids.

use minijinja::Value as Ctx;
use serde_json::Value;

use crate::client::Request;
use crate::playbook::compile::{BodyTemplate, RequestPlan, Target};
use crate::template::{PathPiece, RenderError, Scope, Templates};

/// Why a request could not be rendered: nothing was sent. The text is what the run shows.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A template of the request did not render.
    #[error(transparent)]
    Template(#[from] RenderError),
    /// A `path:` request without a base URL.
    #[error(
        "there is no base URL: set `connection.base_url` (or the provider's <PROVIDER>_BASE_URL)"
    )]
    NoBaseUrl,
    /// The rendered URL does not parse.
    #[error("`{url}` is not a URL: {why}")]
    NotAUrl { url: String, why: url::ParseError },
    /// The rendered URL is not http or https.
    #[error("`{url}` is not an http or https URL")]
    NotHttp { url: String },
    /// An item's value would change the path's shape (a `/`, `?`, `#`, `..`).
    #[error("{0}")]
    PathShape(String),
}

/// The connection's base URL, as rendered: a `path:` is joined to it with exactly one `/`
/// between them.
///
/// It is also parsed once, closed by that `/`, when it has no query or fragment and its text is
/// already the url crate's: a request's URL is then resolved against it (`./` and the rest of the
/// text) instead of being parsed whole for every request, its host included (IDNA, an IP address
/// printed again: about a third of a request's own work on the engine thread, by callgrind). The
/// URL is the same either way (test `a_url_resolved_against_the_base_is_the_url_parsed_whole`).
#[derive(Clone, Debug)]
pub struct BaseUrl {
    /// The base with exactly one `/` at its end, made once rather than for every request.
    closed: String,
    /// `closed`, parsed; `None` where resolving could differ from parsing.
    parsed: Option<url::Url>,
}

impl BaseUrl {
    pub fn new(text: String) -> BaseUrl {
        let closed = closed(&text);
        let parsed = url::Url::parse(&closed).ok().filter(|u| {
            u.as_str() == closed
                && u.query().is_none()
                && u.fragment().is_none()
                && matches!(u.scheme(), "http" | "https")
        });
        BaseUrl { closed, parsed }
    }

    /// The URL `text` (the base closed by `/`, then the rest) as the url crate parses it.
    fn url(&self, text: &str) -> Result<url::Url, url::ParseError> {
        let rest = self
            .parsed
            .as_ref()
            .and_then(|base| Some((base, text.strip_prefix(base.as_str())?)));
        match rest {
            Some((base, rest)) => base.join(&format!("./{rest}")),
            None => url::Url::parse(text),
        }
    }
}

/// `base` with exactly one `/` at its end.
fn closed(base: &str) -> String {
    format!("{}/", base.trim_end_matches('/'))
}

/// Render `plan` over `scope`: a context, or only an item's id when
/// [`RequestPlan::reads_only_task_id`]. `base_url` is the connection's; `headers` the
/// connection's, rendered.
pub fn render(
    templates: &Templates,
    plan: &RequestPlan,
    scope: Scope<'_>,
    base_url: Option<&BaseUrl>,
    headers: &[(String, String)],
) -> Result<Request, RequestError> {
    // Over an id alone there is no query, header or body template to render (the caller asked
    // `reads_only_task_id`); one would fail on the undefined context rather than read nothing.
    let undefined = Ctx::UNDEFINED;
    let ctx = match scope {
        Scope::Ctx(ctx) => ctx,
        Scope::TaskId(_) => &undefined,
    };
    let (template, pieces, base) = match &plan.target {
        Target::Url(t) => (t, templates.render_path(t, scope)?, None),
        Target::Path(t) => {
            let pieces = templates.render_path(t, scope)?;
            let base = base_url.ok_or(RequestError::NoBaseUrl)?;
            (t, join_pieces(&base.closed, pieces), Some(base))
        }
    };
    let shape =
        Shape::of(&pieces).map_err(|e| RequestError::PathShape(e.describe(template.source())))?;
    let url_text = shape.text.trim();
    let parsed = match base {
        Some(base) => base.url(url_text),
        None => url::Url::parse(url_text),
    };
    let mut url = parsed.map_err(|why| RequestError::NotAUrl {
        url: url_text.to_string(),
        why,
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(RequestError::NotHttp {
            url: url_text.to_string(),
        });
    }
    shape
        .check_parsed(&url)
        .map_err(|e| RequestError::PathShape(e.describe(template.source())))?;
    {
        let mut pairs = url.query_pairs_mut();
        for (name, values) in &plan.query {
            for value in values {
                let v = templates.render(value, ctx)?;
                // An empty value means "not given": optional filters stay out of the query.
                if !v.is_empty() {
                    pairs.append_pair(name, &v);
                }
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    let mut all_headers: Vec<(String, String)> = headers.to_vec();
    for (name, value) in &plan.headers {
        let v = templates.render(value, ctx)?;
        all_headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        all_headers.push((name.clone(), v));
    }
    let body = match &plan.body {
        Some(b) => Some(render_body(templates, b, ctx)?),
        None => None,
    };
    Ok(Request {
        method: plan.method.clone(),
        url,
        headers: all_headers,
        body,
    })
}

pub(crate) fn render_body(
    templates: &Templates,
    body: &BodyTemplate,
    ctx: &Ctx,
) -> Result<Value, RenderError> {
    Ok(match body {
        BodyTemplate::Literal(v) => v.clone(),
        BodyTemplate::Text(t) => templates.render_value(t, ctx)?,
        BodyTemplate::Array(items) => Value::Array(
            items
                .iter()
                .map(|b| render_body(templates, b, ctx))
                .collect::<Result<_, _>>()?,
        ),
        BodyTemplate::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, b)| Ok((k.clone(), render_body(templates, b, ctx)?)))
                .collect::<Result<_, RenderError>>()?,
        ),
    })
}

/// `base` (closed by one `/`) in front of a rendered path with exactly one slash between them (the
/// base's own path kept), unless the path is a whole URL written by the author.
fn join_pieces(base: &str, mut pieces: Vec<PathPiece>) -> Vec<PathPiece> {
    if let Some(PathPiece::Fixed(first)) = pieces.first_mut() {
        if first.starts_with("http://") || first.starts_with("https://") {
            return pieces;
        }
        *first = first.trim_start_matches('/').to_string();
    }
    // An item value first cannot hold a slash (checked next), so it starts a segment.
    let mut joined = vec![PathPiece::Fixed(base.to_string())];
    joined.append(&mut pieces);
    joined
}

/// Why a rendered URL was refused, with the item value that caused it.
#[derive(Debug, PartialEq, Eq)]
enum ShapeError {
    /// The value holds something that ends a segment or the path (`what` says which).
    Holds { value: String, what: &'static str },
    /// A segment holding the value would be empty, `.` or `..`.
    DotSegment { value: String, segment: String },
    /// The url crate's parse changed the path's segments.
    Normalised { rendered: String, parsed: String },
}

impl ShapeError {
    /// The message a user sees, naming the value and the template's path.
    fn describe(&self, template: &str) -> String {
        let shown = |value: &str| {
            if value.is_empty() {
                "an empty value".to_string()
            } else {
                format!("the value `{}`", value.escape_debug())
            }
        };
        match self {
            ShapeError::Holds { value, what } => format!(
                "{} would change the shape of the path `{template}`: it holds {what}; nothing was sent (encode it: `{{{{ … | urlencode }}}}`)",
                shown(value)
            ),
            ShapeError::DotSegment { value, segment } => {
                let segment = if segment.is_empty() {
                    "empty".to_string()
                } else {
                    format!("`{segment}`")
                };
                format!(
                    "{} would change the shape of the path `{template}`: a segment would be {segment}; nothing was sent",
                    shown(value)
                )
            }
            ShapeError::Normalised { rendered, parsed } => format!(
                "the path `{rendered}` would be sent as `{parsed}`, not in the shape of `{template}`; nothing was sent"
            ),
        }
    }
}

/// A rendered URL whose item values were checked, with its path's segments.
#[derive(Debug)]
struct Shape {
    text: String,
    /// The rendered path (after the authority, before `?` or `#`).
    path: String,
    segments: Vec<Segment>,
}

/// One segment of a rendered path.
#[derive(Debug, Default)]
struct Segment {
    text: String,
    /// The item value in it (the last one, when several).
    value: Option<String>,
}

impl Shape {
    fn of(pieces: &[PathPiece]) -> Result<Shape, ShapeError> {
        let mut in_query = false;
        for piece in pieces {
            match piece {
                PathPiece::Fixed(t) => in_query |= t.contains(['?', '#']),
                PathPiece::Item(v) => check_value(v, in_query)?,
            }
        }
        let text: String = pieces
            .iter()
            .map(|p| match p {
                PathPiece::Fixed(t) | PathPiece::Item(t) => t.as_str(),
            })
            .collect();
        // Item values hold no `/`, `?` or `#` before the query: these bounds are the author's.
        let path_start = text.find("://").map_or(0, |i| {
            text[i + 3..]
                .find(['/', '?', '#'])
                .map_or(text.len(), |j| i + 3 + j)
        });
        let path_end = text[path_start..]
            .find(['?', '#'])
            .map_or(text.len(), |j| path_start + j);

        let mut segments = Vec::new();
        let mut current: Option<Segment> = None;
        let mut offset = 0;
        for piece in pieces {
            let (t, is_item) = match piece {
                PathPiece::Fixed(t) => (t, false),
                PathPiece::Item(v) => (v, true),
            };
            let start = offset;
            offset += t.len();
            let (lo, hi) = (start.max(path_start), offset.min(path_end));
            if is_item {
                // A value in the path (even an empty one) belongs to the segment it stands in.
                if lo <= hi
                    && let Some(segment) = current.as_mut()
                {
                    segment.text.push_str(t);
                    segment.value = Some(t.clone());
                }
                continue;
            }
            if lo >= hi {
                continue;
            }
            let mut parts = t[lo - start..hi - start].split('/');
            if let (Some(first), Some(segment)) = (parts.next(), current.as_mut()) {
                segment.text.push_str(first);
            }
            // Each `/` ends the segment before it and starts one.
            for part in parts {
                segments.extend(current.take());
                current = Some(Segment {
                    text: part.to_string(),
                    value: None,
                });
            }
        }
        segments.extend(current);
        if segments.is_empty() {
            segments.push(Segment::default());
        }
        if let Some(bad) = segments
            .iter()
            .find(|s| s.value.is_some() && is_dot_or_empty(&s.text))
        {
            return Err(ShapeError::DotSegment {
                value: bad.value.clone().unwrap_or_default(),
                segment: bad.text.clone(),
            });
        }
        Ok(Shape {
            path: text[path_start..path_end].to_string(),
            text,
            segments,
        })
    }

    /// The parsed URL kept every segment, and none holding an item value became empty or a dot.
    fn check_parsed(&self, url: &url::Url) -> Result<(), ShapeError> {
        let parsed: Vec<&str> = url
            .path_segments()
            .map(Iterator::collect)
            .unwrap_or_default();
        let kept = parsed.len() == self.segments.len()
            && parsed
                .iter()
                .zip(&self.segments)
                .all(|(p, s)| s.value.is_none() || !is_dot_or_empty(p));
        if kept {
            Ok(())
        } else {
            Err(ShapeError::Normalised {
                rendered: self.path.clone(),
                parsed: url.path().to_string(),
            })
        }
    }
}

/// An item value may not end its segment or the path; in the query or fragment, only `#` and
/// control characters are refused.
fn check_value(value: &str, in_query: bool) -> Result<(), ShapeError> {
    let what = if value.chars().any(char::is_control) {
        Some("a control character")
    } else if value.contains('#') {
        Some("`#`")
    } else if in_query {
        None
    } else if value.contains('/') {
        Some("`/`")
    } else if value.contains('\\') {
        Some("`\\`")
    } else if value.contains('?') {
        Some("`?`")
    } else {
        None
    };
    match what {
        Some(what) => Err(ShapeError::Holds {
            value: value.to_string(),
            what,
        }),
        None => Ok(()),
    }
}

/// Whether a path segment is empty, `.` or `..`, reading `%2e` as a dot as URL parsers do.
fn is_dot_or_empty(segment: &str) -> bool {
    // The longest such segment is `%2e%2e`: a longer one is neither (and needs no copy).
    if segment.len() > 6 {
        return false;
    }
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    matches!(decoded.as_str(), "" | "." | "..")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::{BaseUrl, Scope, render};
    use crate::playbook::compile::{RequestPlan, Target};
    use crate::secrets::{EnvSource, Redactor};
    use crate::template::{Templates, context};

    /// The URL a POST to `target` (`path:` or, starting with `http`, `url:`) is sent to with
    /// `task.id` = `id`, under the base `http://h:1/base/`.
    fn url(target: &str, id: &str) -> Result<String, String> {
        let mut t = Templates::new(
            Arc::new(EnvSource::from_pairs([])),
            Redactor::default(),
            jiff::Timestamp::now(),
        );
        let plain = t.compile(target)?;
        let (template, _) = t.path_template(&plain)?;
        let plan = RequestPlan {
            method: reqwest::Method::POST,
            target: if target.starts_with("http") {
                Target::Url(template)
            } else {
                Target::Path(template)
            },
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        };
        let ctx = context([
            ("task", &json!({ "id": id })),
            ("vars", &json!({"v": "/x/y"})),
        ]);
        let resolved = BaseUrl::new("http://h:1/base/".into());
        assert!(resolved.parsed.is_some());
        let parsed_whole = BaseUrl {
            parsed: None,
            ..resolved.clone()
        };
        let sent_with = |scope, base: &BaseUrl| {
            render(&t, &plan, scope, Some(base), &[])
                .map(|r| r.url.to_string())
                .map_err(|e| e.to_string())
        };
        let sent = |scope| {
            let url = sent_with(scope, &resolved);
            // Resolved against the parsed base or parsed whole: the same URL, or the same error.
            assert_eq!(url, sent_with(scope, &parsed_whole), "{target} with {id:?}");
            url
        };
        let over_context = sent(Scope::Ctx(&ctx));
        // A path reading only `task.id | urlencode` is rendered from the id alone: the same URL,
        // or the same error, as minijinja over the whole context gives.
        if plan.reads_only_task_id() {
            assert_eq!(
                sent(Scope::TaskId(id)),
                over_context,
                "{target} with {id:?}"
            );
        }
        over_context
    }

    const ENCODED: &str = "/tasks/{{ task.id | urlencode }}/retry";
    const BARE: &str = "/tasks/{{ task.id }}/retry";

    #[test]
    fn join_keeps_the_base_path() {
        assert_eq!(
            url("/open/v1/task", "").as_deref(),
            Ok("http://h:1/base/open/v1/task")
        );
        assert_eq!(url("tasks", "").as_deref(), Ok("http://h:1/base/tasks"));
        assert_eq!(
            url("{{ vars.v }}/{{ task.id }}", "i").as_deref(),
            Ok("http://h:1/base/x/y/i")
        );
    }

    #[test]
    fn an_encoded_id_is_always_one_segment() {
        for (id, sent) in [
            ("a/b", "a%2Fb"),
            ("a#frag", "a%23frag"),
            ("a?x=1", "a%3Fx%3D1"),
            ("%2e%2e", "%252e%252e"),
            ("../../admin/x", "..%2F..%2Fadmin%2Fx"),
            ("a\\b", "a%5Cb"),
            (" ", "%20"),
            ("\t", "%09"),
            ("t-1_x.~", "t-1_x.~"),
        ] {
            assert_eq!(
                url(ENCODED, id),
                Ok(format!("http://h:1/base/tasks/{sent}/retry")),
                "{id}"
            );
        }
    }

    /// Regression (issue 7, case 2): `..` was sent as `POST /retry`, `.` as `POST /tasks/retry`.
    #[test]
    fn dot_and_empty_ids_are_refused_even_encoded() {
        let message = |shown: &str, segment: &str| {
            format!(
                "{shown} would change the shape of the path `{ENCODED}`: a segment would be {segment}; nothing was sent"
            )
        };
        assert_eq!(url(ENCODED, ".."), Err(message("the value `..`", "`..`")));
        assert_eq!(url(ENCODED, "."), Err(message("the value `.`", "`.`")));
        assert_eq!(url(ENCODED, ""), Err(message("an empty value", "empty")));
        assert_eq!(
            url("/tasks/{{ task.id | urlencode }}", ""),
            Err(
                "an empty value would change the shape of the path `/tasks/{{ task.id | urlencode }}`: a segment would be empty; nothing was sent"
                    .to_string()
            )
        );
    }

    /// Regression (issue 7, case 2): without the filter `a/b` went to `/tasks/a/b/retry`, `a#frag`
    /// to `/tasks/a`, `%2e%2e` to `/retry`.
    #[test]
    fn an_unencoded_value_that_would_move_the_path_is_refused() {
        let holds = |id: &str, what: &str| {
            format!(
                "the value `{id}` would change the shape of the path `{BARE}`: it holds {what}; nothing was sent (encode it: `{{{{ … | urlencode }}}}`)"
            )
        };
        assert_eq!(url(BARE, "a/b"), Err(holds("a/b", "`/`")));
        assert_eq!(url(BARE, "a#frag"), Err(holds("a#frag", "`#`")));
        assert_eq!(url(BARE, "a?x=1"), Err(holds("a?x=1", "`?`")));
        assert_eq!(url(BARE, "a\\b"), Err(holds("a\\\\b", "`\\`")));
        assert_eq!(
            url(BARE, ".\t."),
            Err(holds(".\\t.", "a control character"))
        );
        assert_eq!(
            url(BARE, "%2e%2E"),
            Err(format!(
                "the value `%2e%2E` would change the shape of the path `{BARE}`: a segment would be `%2e%2E`; nothing was sent"
            ))
        );
        assert_eq!(
            url(BARE, "a b"),
            Ok("http://h:1/base/tasks/a%20b/retry".into())
        );
    }

    #[test]
    fn a_url_target_is_checked_the_same_way() {
        let target = "http://h:2/tasks/{{ task.id }}";
        assert_eq!(url(target, "t1"), Ok("http://h:2/tasks/t1".into()));
        assert!(url(target, "../admin").is_err());
        assert_eq!(
            url(target, " "),
            Err(format!(
                "the path `/tasks/ ` would be sent as `/tasks/`, not in the shape of `{target}`; nothing was sent"
            ))
        );
        assert!(url("{{ task.id }}", "http://evil/x").is_err());
        assert!(url("http://{{ task.id }}/x", "evil/admin").is_err());
    }

    #[test]
    fn a_value_in_the_query_may_hold_slashes_but_not_a_fragment() {
        let target = "/tasks?id={{ task.id }}";
        assert_eq!(
            url(target, "a/b?c").as_deref(),
            Ok("http://h:1/base/tasks?id=a/b?c")
        );
        assert!(url(target, "a#b").is_err());
        assert!(url(target, "").is_ok());
    }

    #[test]
    fn a_path_the_url_parser_would_normalise_is_refused() {
        assert_eq!(
            url("/a/../tasks/{{ task.id }}", "t1"),
            Err(
                "the path `/base/a/../tasks/t1` would be sent as `/base/tasks/t1`, not in the shape of `/a/../tasks/{{ task.id }}`; nothing was sent"
                    .to_string()
            )
        );
    }

    /// Ids of up to a dozen characters, dots, slashes, `?`, `#`, `%`, backslashes and blanks
    /// likely.
    const ID: &str = "(\\PC|[./?#%\\\\ \t]|%2[eEfF]){0,12}";

    /// The path segments of `sent`.
    fn segments(sent: &str) -> Vec<String> {
        url::Url::parse(sent)
            .ok()
            .and_then(|u| u.path_segments().map(|s| s.map(String::from).collect()))
            .unwrap_or_default()
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 512,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x1d_9a75),
            ..proptest::test_runner::Config::default()
        })]

        /// Whatever the id, an encoded one is either refused (`.`, `..`, empty) or sent as exactly
        /// one segment that decodes back to the id, between the template's own segments.
        #[test]
        fn any_encoded_id_is_one_segment_or_refused(id in ID) {
            match url(ENCODED, &id) {
                Err(e) => proptest::prop_assert!(
                    matches!(id.as_str(), "" | "." | ".."),
                    "{:?}: {}", id, e
                ),
                Ok(sent) => {
                    let s = segments(&sent);
                    proptest::prop_assert_eq!(s.len(), 4, "{}", sent);
                    proptest::prop_assert_eq!((&*s[0], &*s[1], &*s[3]), ("base", "tasks", "retry"));
                    let decoded = percent_encoding::percent_decode_str(&s[2]).decode_utf8_lossy();
                    proptest::prop_assert_eq!(decoded.as_ref(), id.as_str());
                }
            }
        }

        /// Whatever follows the base, resolving it against the base parsed once gives the URL
        /// parsing the whole text gives (or neither parses), for bases with a path, a port, an
        /// IPv6 host, credentials, an escape.
        #[test]
        fn a_url_resolved_against_the_base_is_the_url_parsed_whole(
            rest in "[a-zA-Z0-9/?#%.:@ \\\\;=&+,~!$'()*\\[\\]{}|^`\"<>\t\n\u{e9}\u{1F600}-]{0,24}",
            which in 0usize..6,
        ) {
            let bases = [
                "http://h:1/base/",
                "http://127.0.0.1:8080/http",
                "https://user:pw@api.example.com/v1/x/",
                "http://h",
                "http://[::1]:9/a%20b/",
                "https://b\u{fc}cher.example/api//",
            ];
            let base = BaseUrl::new(bases[which].to_string());
            let text = format!("{}{rest}", super::closed(bases[which]));
            let whole = url::Url::parse(&text).map(String::from);
            proptest::prop_assert_eq!(base.url(&text).map(String::from).ok(), whole.ok(), "{:?}", text);
        }

        /// Whatever the id, an unencoded one is refused or sent in the template's shape, its
        /// segment never empty or a dot segment.
        #[test]
        fn any_bare_id_keeps_the_shape_or_is_refused(id in ID) {
            if let Ok(sent) = url(BARE, &id) {
                let s = segments(&sent);
                proptest::prop_assert_eq!(s.len(), 4, "{}", sent);
                proptest::prop_assert_eq!((&*s[0], &*s[1], &*s[3]), ("base", "tasks", "retry"));
                let dots = s[2].to_ascii_lowercase().replace("%2e", ".");
                proptest::prop_assert!(!matches!(dots.as_str(), "" | "." | ".."), "{}", sent);
            }
        }
    }
}
