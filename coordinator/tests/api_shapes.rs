//! Golden: the JSON each route serves, frozen as its shape (every field's
//! path and kind), and read back strictly through `bounties-api`'s types,
//! which refuse an unknown or a missing field. Renaming a field fails here
//! before any client prints a default.

mod support;

use std::collections::BTreeSet;

use bounties::{Action, Params};
use bounties_api as wire;
use expect_test::{ExpectFile, expect_file};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Every leaf's path and kind; array elements share the path `[]`.
fn shape(v: &Value) -> String {
    fn walk(v: &Value, path: &str, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    walk(v, &format!("{path}.{k}"), out);
                }
            }
            Value::Array(a) => {
                if a.is_empty() {
                    out.insert(format!("{path}[]: empty"));
                }
                for v in a {
                    walk(v, &format!("{path}[]"), out);
                }
            }
            Value::Null => {
                out.insert(format!("{path}: null"));
            }
            Value::Bool(_) => {
                out.insert(format!("{path}: bool"));
            }
            Value::Number(_) => {
                out.insert(format!("{path}: number"));
            }
            Value::String(_) => {
                out.insert(format!("{path}: string"));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(v, "", &mut out);
    out.into_iter().collect::<Vec<_>>().join("\n") + "\n"
}

/// GET `route`, check its shape against `golden`, and read it as `T` strictly.
fn check<T: DeserializeOwned + serde::Serialize + std::fmt::Debug>(
    s: &support::Served,
    route: &str,
    golden: ExpectFile,
) {
    let v: Value = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(format!("{}{route}", s.url))
        .call()
        .unwrap()
        .into_body()
        .read_json()
        .unwrap();
    golden.assert_eq(&shape(&v));
    let typed: T = serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("{route} does not read as its type: {e}"));
    // Nothing is lost or added in the round trip.
    assert_eq!(serde_json::to_value(&typed).unwrap(), v, "{route}");
    if let Value::Object(mut m) = v {
        m.insert("surprise".into(), Value::Bool(true));
        let err = serde_json::from_value::<T>(Value::Object(m.clone())).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{route}: {err}");
        m.remove("surprise");
        // A field missing anywhere, at any depth, is an error, never a default.
        let whole = Value::Object(m);
        for path in field_paths(&whole, &mut Vec::new()) {
            let mut cut = whole.clone();
            remove_at(&mut cut, &path);
            assert!(
                serde_json::from_value::<T>(cut).is_err(),
                "{route}: a missing {} was read as a default",
                path.join(".")
            );
        }
    }
}

/// The path of every field of every struct-shaped object (the first element
/// of each array stands for all), skipping maps keyed by ids, whose entries
/// may come and go, and inside the sponsor's spec document (a bounty's
/// `spec`, a model's `licence_terms` and `licence.terms`), whose optional keys may be left out
/// by the spec format itself.
fn field_paths(v: &Value, at: &mut Vec<String>) -> Vec<Vec<String>> {
    const SPEC_DOCUMENTS: [&str; 3] = ["spec", "licence_terms", "terms"];
    let mut out = Vec::new();
    if at
        .last()
        .is_some_and(|k| SPEC_DOCUMENTS.contains(&k.as_str()))
    {
        return out;
    }
    match v {
        Value::Object(m) if !m.keys().all(|k| is_id_key(k)) => {
            for (k, child) in m {
                at.push(k.clone());
                out.push(at.clone());
                out.extend(field_paths(child, at));
                at.pop();
            }
        }
        Value::Object(m) => {
            for (k, child) in m {
                at.push(k.clone());
                out.extend(field_paths(child, at));
                at.pop();
            }
        }
        Value::Array(a) if !a.is_empty() => {
            at.push("0".into());
            out.extend(field_paths(&a[0], at));
            at.pop();
        }
        _ => {}
    }
    out
}

/// A map key: a number or a hex id.
fn is_id_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_hexdigit())
}

fn remove_at(v: &mut Value, path: &[String]) {
    let (last, parents) = path.split_last().expect("a path");
    let mut v = v;
    for p in parents {
        v = match v {
            Value::Array(a) => &mut a[p.parse::<usize>().expect("an index")],
            other => other.get_mut(p).expect("the path exists"),
        };
    }
    v.as_object_mut().expect("an object").remove(last);
}

#[test]
fn every_route_serves_exactly_its_type() {
    let s = support::serve(
        &["sponsor", "alice", "bob", "eve", "business"],
        Params::default(),
    );
    let bounty = support::closed_bounty(&s);
    let winner = s
        .node
        .state()
        .bounty(bounty)
        .and_then(|b| b.settlement.as_ref().and_then(|st| st.winner))
        .expect("a winner");
    s.client
        .act(s.key("business"), Action::BuyLicense { model: winner })
        .unwrap();
    let business = s.key("business").account();
    let eve = s.key("eve").account();
    check::<wire::Info>(&s, "/v1/info", expect_file!["golden/info.shape"]);
    check::<wire::LogPage>(
        &s,
        "/v1/log?from=0&limit=3",
        expect_file!["golden/log.shape"],
    );
    check::<wire::BountyList>(&s, "/v1/bounties", expect_file!["golden/bounties.shape"]);
    check::<wire::BountyPage>(
        &s,
        &format!("/v1/bounties/{bounty}"),
        expect_file!["golden/bounty.shape"],
    );
    check::<wire::Leaderboard>(
        &s,
        &format!("/v1/bounties/{bounty}/leaderboard"),
        expect_file!["golden/leaderboard.shape"],
    );
    check::<wire::AccountPage>(
        &s,
        &format!("/v1/accounts/{eve}"),
        expect_file!["golden/account.shape"],
    );
    check::<wire::ModelPage>(
        &s,
        &format!("/v1/models/{winner}"),
        expect_file!["golden/model.shape"],
    );
    check::<wire::LicenceList>(
        &s,
        &format!("/v1/licences?licensee={business}"),
        expect_file!["golden/licences.shape"],
    );
    check::<wire::JobList>(&s, "/v1/jobs", expect_file!["golden/jobs.shape"]);
    // An error answer has its one shape too.
    check::<wire::ErrorBody>(
        &s,
        "/v1/bounties/999999",
        expect_file!["golden/error.shape"],
    );
}
