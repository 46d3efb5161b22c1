//! Redirects, followed here rather than by the HTTP library: a request that changes anything
//! follows none; a read follows up to [`MAX_REDIRECTS`] to its own origin, or to another if the
//! connection allows it, and then with no header at all.

use http::Method;

use super::exchange::{Failure, Hop};
use super::{Effect, HttpClient, MAX_REDIRECTS, Redirects};

impl HttpClient {
    /// The next hop of a redirect, or why it is not followed: a request that changes anything
    /// follows none (it is not sent again, to the same place or another); a read follows one to
    /// its own origin, or to another if the playbook allows it (then with no header).
    pub(super) fn redirect(
        &self,
        from: &Hop,
        effect: Effect,
        status: u16,
        location: &str,
        hops: usize,
    ) -> Result<Hop, Failure> {
        // Redacted before it is cut: a Location echoing a secret leaves no prefix of it.
        let shown = self.redactor.excerpt(location, 300);
        let refuse = |why: String| Failure::Refused {
            message: format!(
                "HTTP {status}: the provider redirected the request to {shown}; {why}"
            ),
            // A 303 answers a request that was carried out, with where to read its result.
            maybe_carried_out: status == 303,
        };
        if effect == Effect::Mutate {
            return Err(refuse(match status {
                303 => "runbook does not follow redirects of requests that change anything, and the provider may have carried it out".into(),
                _ => "runbook does not follow redirects of requests that change anything, so it was not sent again".into(),
            }));
        }
        let Ok(target) = from.url.join(location) else {
            return Err(refuse("that is not a URL".into()));
        };
        if !matches!(target.scheme(), "http" | "https") {
            return Err(refuse("runbook follows only http and https".into()));
        }
        let same_origin = target.origin() == from.url.origin() && from.own_origin;
        match self.redirects {
            Redirects::None => {
                return Err(refuse(
                    "the connection follows no redirects (`connection.redirects: none`)".into(),
                ));
            }
            Redirects::SameOrigin if !same_origin => {
                return Err(refuse(
                    "runbook follows redirects only to the API's own scheme, host and port (`connection.redirects: any` follows it, without any header)".into(),
                ));
            }
            _ => {}
        }
        if hops >= MAX_REDIRECTS {
            return Err(refuse(format!(
                "runbook follows at most {MAX_REDIRECTS} redirects"
            )));
        }
        // 303, and 301/302 after a POST (as every client does), mean "read it there": a GET.
        let to_get = status == 303
            || (matches!(status, 301 | 302) && !matches!(from.method, Method::GET | Method::HEAD));
        Ok(Hop {
            method: if to_get {
                Method::GET
            } else {
                from.method.clone()
            },
            body: if to_get { None } else { from.body.clone() },
            url: target,
            own_origin: same_origin,
        })
    }
}
