//! Turning a compiled request template and a context into a request ready to send.

use minijinja::Value as Ctx;
use serde_json::Value;

use crate::http::Request;
use crate::playbook::compile::{BodyTemplate, RequestPlan, Target};
use crate::template::Templates;

/// Render `plan` against `ctx`. `base_url` is the connection's; `headers` the connection's, rendered.
pub fn render(
    templates: &Templates,
    plan: &RequestPlan,
    ctx: &Ctx,
    base_url: Option<&str>,
    headers: &[(String, String)],
) -> Result<Request, String> {
    let url_text = match &plan.target {
        Target::Url(t) => templates.render(t, ctx)?,
        Target::Path(t) => {
            let path = templates.render(t, ctx)?;
            let base = base_url.ok_or_else(|| {
                "there is no base URL: set `connection.base_url` (or the provider's <PROVIDER>_BASE_URL)".to_string()
            })?;
            join(base, &path)
        }
    };
    let mut url =
        url::Url::parse(url_text.trim()).map_err(|e| format!("`{url_text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{url_text}` is not an http or https URL"));
    }
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

fn render_body(templates: &Templates, body: &BodyTemplate, ctx: &Ctx) -> Result<Value, String> {
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
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// `base` and `path` with exactly one slash between them; the base's own path is kept.
pub fn join(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        return path.to_string();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn join_keeps_the_base_path() {
        assert_eq!(
            join("http://h:1/geelark/", "/open/v1/task"),
            "http://h:1/geelark/open/v1/task"
        );
        assert_eq!(join("http://h:1", "tasks"), "http://h:1/tasks");
    }
}
