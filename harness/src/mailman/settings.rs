//! A suite's list settings against Mailman 3: applied through REST on a
//! target the harness owns, compared (read-only) on real hosts.
//!
//! Which configuration keys exist is asked of the server once
//! (`GET /3.1/lists/<id>/config` answers every key with its value), so a
//! setting mailflow has no typed check for is still caught before the first
//! probe, at the line of the suite file that names it.

use std::collections::BTreeMap;

use super::rest::{RestError, RestTransport};
use crate::scenario::{ListDecl, Location, Setting};
#[cfg(test)]
use crate::scenario::SettingValue;

/// A list's configuration as Mailman answers it: key to JSON value.
pub type Config = BTreeMap<String, serde_json::Value>;

/// Why a list's settings could not be applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SettingsError {
    /// The server has no such key, or refused the value: the suite file is wrong.
    #[error("{at}: list `{list}`, setting `{key}`: {message}")]
    Refused { at: Location, list: String, key: String, message: String },
    #[error(transparent)]
    Rest(#[from] RestError),
}

/// One setting whose value on the server differs from the suite's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingDiff {
    /// The list's id, `name.domain`.
    pub list: String,
    /// The key, `archivers.<name>` for an archiver.
    pub key: String,
    /// As the suite writes it.
    pub expected: String,
    /// As the server answers it (JSON), or `no such setting`.
    pub observed: String,
    /// Where the suite writes it.
    pub at: Location,
}

fn json_body(method: &str, path: &str, body: &str) -> Result<serde_json::Map<String, serde_json::Value>, RestError> {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(o)) => Ok(o),
        Ok(_) => Err(RestError { method: method.into(), path: path.into(), message: "expected a JSON object".into() }),
        Err(e) => Err(RestError { method: method.into(), path: path.into(), message: format!("unexpected JSON: {e}") }),
    }
}

async fn get_object<T: RestTransport + ?Sized>(rest: &T, path: &str) -> Result<Config, RestError> {
    let r = rest.call("GET", path, &[]).await?;
    if r.status != 200 {
        return Err(RestError { method: "GET".into(), path: path.into(), message: format!("HTTP {}: {}", r.status, r.body.trim()) });
    }
    let mut o = json_body("GET", path, &r.body)?;
    o.remove("http_etag");
    o.remove("self_link");
    Ok(o.into_iter().collect())
}

/// `GET /3.1/lists/<id>/config`: every configuration key of the list with its value.
pub async fn config<T: RestTransport + ?Sized>(rest: &T, list_id: &str) -> Result<Config, RestError> {
    get_object(rest, &format!("/3.1/lists/{list_id}/config")).await
}

/// `GET /3.1/lists/<id>/archivers`: each archiver the site has, on or off for the list.
pub async fn archivers<T: RestTransport + ?Sized>(rest: &T, list_id: &str) -> Result<Config, RestError> {
    get_object(rest, &format!("/3.1/lists/{list_id}/archivers")).await
}

/// Mailman's reason from an error body (`{"title": ..., "description": ...}`),
/// else the body.
fn reason(status: u16, body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| v.get("description").or_else(|| v.get("title")))
        .and_then(|d| d.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| body.trim().to_string());
    format!("Mailman refused it (HTTP {status}: {text})")
}

/// The message for a key the server does not have, with the closest it has.
fn no_such_key(what: &str, key: &str, known: &Config) -> String {
    let close: Vec<&str> = known
        .keys()
        .map(String::as_str)
        .filter(|k| strsim::jaro_winkler(k, key) > 0.85 || (key.len() > 4 && k.contains(key)))
        .take(3)
        .collect();
    let hint = match close.as_slice() {
        [] => String::new(),
        _ => format!("; did you mean {}?", close.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" or ")),
    };
    format!("Mailman has no {what} `{key}` ({} known{hint})", known.len())
}

/// PATCHes `settings` at `path` in one call; when the server refuses, one
/// call per setting finds the one it refuses, so the error points at its line.
async fn patch<T: RestTransport + ?Sized>(rest: &T, list: &ListDecl, path: &str, settings: &[Setting]) -> Result<(), SettingsError> {
    let form_of = |settings: &[Setting]| -> Vec<(String, String)> {
        settings.iter().flat_map(|s| s.value.form_values().into_iter().map(|v| (s.key.clone(), v))).collect()
    };
    let call = |form: Vec<(String, String)>| async move {
        let pairs: Vec<(&str, String)> = form.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        rest.call("PATCH", path, &pairs).await
    };
    let r = call(form_of(settings)).await?;
    if r.status == 204 || r.status == 200 {
        return Ok(());
    }
    if r.status != 400 {
        return Err(RestError { method: "PATCH".into(), path: path.into(), message: format!("HTTP {}: {}", r.status, r.body.trim()) }.into());
    }
    let first = &settings[0];
    for s in settings {
        let one = call(form_of(std::slice::from_ref(s))).await?;
        if one.status == 400 {
            return Err(SettingsError::Refused { at: s.at.clone(), list: list.list_id(), key: s.key.clone(), message: reason(one.status, &one.body) });
        }
    }
    // Each alone was fine, together not: name the first, with the server's words.
    Err(SettingsError::Refused { at: first.at.clone(), list: list.list_id(), key: first.key.clone(), message: reason(r.status, &r.body) })
}

/// Applies a list's `[list.settings]` and `archivers`. `known` is the
/// configuration of any list on the server (asked once per run): a key not
/// in it is refused before anything is changed.
pub async fn apply<T: RestTransport + ?Sized>(rest: &T, list: &ListDecl, known: &Config) -> Result<(), SettingsError> {
    let list_id = list.list_id();
    if let Some(s) = list.settings.values.iter().find(|s| !known.contains_key(&s.key)) {
        return Err(SettingsError::Refused { at: s.at.clone(), list: list_id, key: s.key.clone(), message: no_such_key("list setting", &s.key, known) });
    }
    if !list.settings.values.is_empty() {
        patch(rest, list, &format!("/3.1/lists/{list_id}/config"), &list.settings.values).await?;
    }
    if !list.archivers.is_empty() {
        let offered = archivers(rest, &list_id).await?;
        if let Some(s) = list.archivers.iter().find(|s| !offered.contains_key(&s.key)) {
            return Err(SettingsError::Refused { at: s.at.clone(), list: list_id, key: format!("archivers.{}", s.key), message: no_such_key("archiver", &s.key, &offered) });
        }
        patch(rest, list, &format!("/3.1/lists/{list_id}/archivers"), &list.archivers).await?;
    }
    Ok(())
}

/// The settings and archivers of `list` whose value on the server differs
/// from the suite's, one per setting, in file order. Reads only.
pub async fn compare<T: RestTransport + ?Sized>(rest: &T, list: &ListDecl) -> Result<Vec<SettingDiff>, RestError> {
    let list_id = list.list_id();
    let mut diffs = Vec::new();
    if !list.settings.values.is_empty() {
        diffs.extend(differences(&list_id, "", &list.settings.values, &config(rest, &list_id).await?));
    }
    if !list.archivers.is_empty() {
        diffs.extend(differences(&list_id, "archivers.", &list.archivers, &archivers(rest, &list_id).await?));
    }
    Ok(diffs)
}

/// The settings whose value in `server` differs (or which `server` lacks).
pub fn differences(list_id: &str, prefix: &str, settings: &[Setting], server: &Config) -> Vec<SettingDiff> {
    settings
        .iter()
        .filter_map(|s| {
            let observed = match server.get(&s.key) {
                Some(v) if s.value.matches(v) => return None,
                Some(v) => v.to_string(),
                None => "no such setting".to_string(),
            };
            Some(SettingDiff {
                list: list_id.to_string(),
                key: format!("{prefix}{}", s.key),
                expected: s.value.to_string(),
                observed,
                at: s.at.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! Against a REST stand-in that answers as Mailman 3.3 does (hand-made
    //! bodies in its shape): a dictionary of settings, 400 for a bad value.
    use super::*;
    use crate::mailman::RestResponse;
    use crate::BoxFuture;
    use std::sync::Mutex;

    /// Keeps a config and archivers; refuses `max_num_recipients` values
    /// that are not integers and read-only keys, as Mailman does.
    struct StandIn {
        config: Mutex<Config>,
        archivers: Mutex<Config>,
        calls: Mutex<Vec<String>>,
    }

    impl StandIn {
        fn new() -> StandIn {
            let config: Config = [
                ("archive_policy", serde_json::json!("public")),
                ("require_explicit_destination", serde_json::json!(true)),
                ("max_num_recipients", serde_json::json!(10)),
                ("subject_prefix", serde_json::json!("[L] ")),
                ("acceptable_aliases", serde_json::json!([])),
                ("list_name", serde_json::json!("l")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let archivers: Config =
                [("hyperkitty", true), ("prototype", true)].into_iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect();
            StandIn { config: Mutex::new(config), archivers: Mutex::new(archivers), calls: Mutex::new(Vec::new()) }
        }
    }

    impl RestTransport for StandIn {
        fn call<'a>(&'a self, method: &'a str, path: &'a str, form: &'a [(&'a str, String)]) -> BoxFuture<'a, Result<RestResponse, RestError>> {
            Box::pin(async move {
                self.calls.lock().unwrap().push(format!("{method} {path} {form:?}"));
                let store = if path.ends_with("/archivers") { &self.archivers } else { &self.config };
                let ok = |status: u16, body: String| Ok(RestResponse { status, body });
                match method {
                    "GET" => {
                        let map: serde_json::Map<String, serde_json::Value> = store.lock().unwrap().clone().into_iter().collect();
                        ok(200, serde_json::Value::Object(map).to_string())
                    }
                    "PATCH" => {
                        let mut next = store.lock().unwrap().clone();
                        for (k, v) in form {
                            let bad = |what: &str| ok(400, format!(r#"{{"title": "400 Bad Request", "description": "{what}: {k}"}}"#));
                            match next.get(*k) {
                                None => return bad("Unexpected parameters"),
                                Some(_) if *k == "list_name" => return bad("Read-only attribute"),
                                Some(serde_json::Value::Number(_)) => match v.parse::<i64>() {
                                    Ok(n) => {
                                        next.insert(k.to_string(), serde_json::json!(n));
                                    }
                                    Err(_) => return bad("Cannot convert parameters"),
                                },
                                Some(serde_json::Value::Bool(_)) => {
                                    next.insert(k.to_string(), serde_json::json!(v == "true"));
                                }
                                Some(_) => {
                                    next.insert(k.to_string(), serde_json::json!(v));
                                }
                            }
                        }
                        *store.lock().unwrap() = next;
                        ok(204, String::new())
                    }
                    _ => ok(405, String::new()),
                }
            })
        }
    }

    fn setting(key: &str, value: SettingValue, at: Location) -> Setting {
        Setting { key: key.to_string(), value, at }
    }

    fn at(line: usize) -> Location {
        Location { file: "suite.toml".into(), line, column: 1 }
    }

    fn list(settings: Vec<Setting>, archivers: Vec<Setting>) -> ListDecl {
        ListDecl {
            name: "l".into(),
            domain: "d.test".into(),
            settings: crate::scenario::ListSettings { values: settings },
            archivers,
            ..ListDecl::default()
        }
    }

    #[tokio::test]
    async fn applies_settings_and_archivers_and_compares_them() {
        let rest = StandIn::new();
        let known = config(&rest, "l.d.test").await.unwrap();
        let l = list(
            vec![
                setting("archive_policy", SettingValue::Text("private".into()), at(5)),
                setting("require_explicit_destination", SettingValue::Bool(false), at(6)),
                setting("max_num_recipients", SettingValue::Integer(3), at(7)),
            ],
            vec![setting("prototype", SettingValue::Bool(false), at(9))],
        );
        apply(&rest, &l, &known).await.unwrap();
        assert_eq!(compare(&rest, &l).await.unwrap(), []);
        assert_eq!(rest.config.lock().unwrap()["max_num_recipients"], serde_json::json!(3));
        assert_eq!(rest.archivers.lock().unwrap()["prototype"], serde_json::json!(false));

        // Someone changes two settings on the server: a row each.
        rest.config.lock().unwrap().insert("archive_policy".into(), serde_json::json!("public"));
        rest.archivers.lock().unwrap().insert("prototype".into(), serde_json::json!(true));
        let diffs = compare(&rest, &l).await.unwrap();
        assert_eq!(
            diffs,
            [
                SettingDiff { list: "l.d.test".into(), key: "archive_policy".into(), expected: "\"private\"".into(), observed: "\"public\"".into(), at: at(5) },
                SettingDiff { list: "l.d.test".into(), key: "archivers.prototype".into(), expected: "false".into(), observed: "true".into(), at: at(9) },
            ]
        );
    }

    #[tokio::test]
    async fn an_unknown_key_or_a_refused_value_points_at_its_line() {
        let rest = StandIn::new();
        let known = config(&rest, "l.d.test").await.unwrap();
        let unknown = list(vec![setting("archive_polcy", SettingValue::Text("private".into()), at(4))], vec![]);
        let e = apply(&rest, &unknown, &known).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "suite.toml:4:1: list `l.d.test`, setting `archive_polcy`: Mailman has no list setting `archive_polcy` (6 known; did you mean `archive_policy`?)"
        );
        // Nothing was sent for a list with an unknown key.
        assert!(!rest.calls.lock().unwrap().iter().any(|c| c.starts_with("PATCH")));

        let bad = list(
            vec![
                setting("subject_prefix", SettingValue::Text("[x] ".into()), at(4)),
                setting("max_num_recipients", SettingValue::Text("three".into()), at(5)),
            ],
            vec![],
        );
        let e = apply(&rest, &bad, &known).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "suite.toml:5:1: list `l.d.test`, setting `max_num_recipients`: Mailman refused it (HTTP 400: Cannot convert parameters: max_num_recipients)"
        );
        let read_only = list(vec![setting("list_name", SettingValue::Text("other".into()), at(8))], vec![]);
        let e = apply(&rest, &read_only, &known).await.unwrap_err();
        assert!(e.to_string().starts_with("suite.toml:8:1: list `l.d.test`, setting `list_name`: Mailman refused it"), "{e}");

        let archiver = list(vec![], vec![setting("pipermail", SettingValue::Bool(true), at(9))]);
        let e = apply(&rest, &archiver, &known).await.unwrap_err();
        assert!(e.to_string().starts_with("suite.toml:9:1: list `l.d.test`, setting `archivers.pipermail`: Mailman has no archiver `pipermail` (2 known"), "{e}");
    }

    #[test]
    fn values_compare_as_mailman_answers_them() {
        assert!(SettingValue::Bool(false).matches(&serde_json::json!(false)));
        assert!(!SettingValue::Bool(false).matches(&serde_json::json!("false")));
        assert!(SettingValue::Integer(3).matches(&serde_json::json!(3)));
        assert!(SettingValue::Text("".into()).matches(&serde_json::Value::Null));
        assert!(SettingValue::List(vec!["a@x".into()]).matches(&serde_json::json!(["a@x"])));
        assert!(!SettingValue::List(vec![]).matches(&serde_json::json!(["a@x"])));
    }
}
