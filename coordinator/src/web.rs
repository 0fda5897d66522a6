//! Server-rendered web pages: the bounty list, a bounty (spec, leaderboard,
//! receipts, payouts, a chart of the best score over time) and a model
//! (provenance, licence terms, licences sold, royalties). No JavaScript.

use std::fmt::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use bounties::state::LeaderboardRow;
use bounties::state::records::Origin;
use bounties::{BountyId, Score, State as Ledger};

use crate::chart;
use crate::error::ApiError;
use crate::node::Node;
use crate::params::parse_hash;

/// The page routes.
pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/", get(index))
        .route("/bounties/{id}", get(bounty))
        .route("/models/{hash}", get(model))
}

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · model bounties</title>
<style>
body{{font:15px/1.45 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}}
table{{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}}
th,td{{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #ddd;font-variant-numeric:tabular-nums}}
code{{font-size:13px}} a{{color:#0a58ca}} .muted{{color:#666}} dl{{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}}
</style></head>
<body><p><a href="/">model bounties</a></p><h1>{title}</h1>
{body}
</body></html>"#,
        title = esc(title),
    ))
}

fn short(hex: &str) -> String {
    hex.chars().take(12).collect()
}

fn best(ledger: &Ledger, id: BountyId) -> Option<Score> {
    ledger
        .leaderboard(id)?
        .into_iter()
        .find(|r| r.rank == Some(1))
        .and_then(|r| r.score)
}

async fn index(State(node): State<Arc<Node>>) -> Html<String> {
    let ledger = node.state();
    let mut rows = String::new();
    for b in ledger.bounties() {
        let _ = write!(
            rows,
            r#"<tr class="bounty"><td>{id}</td><td><a href="/bounties/{id}">{title}</a></td><td>{status}</td><td>{reward}</td><td>{deadline}</td><td>{subs}</td><td>{best}</td></tr>"#,
            id = b.id,
            title = esc(&b.spec.title),
            status = b.status.as_str(),
            reward = b.spec.reward,
            deadline = b.spec.deadline_ms.utc(),
            subs = b.submissions,
            best = best(&ledger, b.id).map_or("–".into(), |s| s.to_string()),
        );
    }
    let head = ledger.head();
    let body = format!(
        r#"<p class="muted">chain <code>{chain}</code>, head {seq} <code>{hash}</code></p>
<table id="bounties"><thead><tr><th>#</th><th>bounty</th><th>status</th><th>reward</th><th>deadline</th><th>submissions</th><th>best score</th></tr></thead>
<tbody>{rows}</tbody></table>"#,
        chain = esc(ledger.chain_id()),
        seq = head.seq,
        hash = short(&head.hash.to_hex()),
    );
    page("Bounties", &body)
}

fn leaderboard_table(rows: &[LeaderboardRow]) -> String {
    let mut out = String::from(
        r#"<table id="leaderboard"><thead><tr><th>rank</th><th>submission</th><th>miner</th><th>model</th><th>score</th><th>receipts</th><th>record</th><th>payout</th></tr></thead><tbody>"#,
    );
    for r in rows {
        let weights = r.weights_hash.to_hex();
        let _ = write!(
            out,
            r#"<tr class="row"><td>{rank}</td><td>{sub}</td><td><code>{miner}</code></td><td><a href="/models/{weights}"><code>{w}</code></a></td><td class="score">{score}</td><td>{receipts}</td><td>{record}</td><td>{payout}</td></tr>"#,
            rank = match (r.rank, r.unscorable) {
                (Some(k), _) => k.to_string(),
                (None, Some(_)) => "–".into(),
                (None, None) => "pending".into(),
            },
            sub = r.submission,
            miner = short(&r.miner.to_hex()),
            w = short(&weights),
            score = match (r.score, r.unscorable) {
                (Some(s), _) => s.to_string(),
                (None, Some(why)) => format!("unscorable ({})", why.as_str()),
                (None, None) => "–".into(),
            },
            receipts = r.receipts,
            record = if r.record { "yes" } else { "" },
            payout = r.payout,
        );
    }
    out.push_str("</tbody></table>");
    out
}

async fn bounty(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> Result<Html<String>, ApiError> {
    let id = BountyId(
        id.parse()
            .map_err(|_| ApiError::BadRequest(format!("{id:?} is not a bounty number")))?,
    );
    let ledger = node.state();
    let b = ledger
        .bounty(id)
        .ok_or_else(|| ApiError::NotFound(format!("no bounty {id}")))?;
    let spec = &b.spec;
    let rows = ledger.leaderboard(id).unwrap_or_default();
    let subs = ledger.submissions_of(id);
    // The best score over time: each final score at its submission time.
    let higher = spec.judging.metric.higher_is_better();
    let mut points: Vec<(u64, i64)> = subs
        .iter()
        .filter_map(|s| {
            s.final_score
                .as_ref()
                .and_then(|f| f.score())
                .map(|score| (s.submitted_at.0, score.0))
        })
        .collect();
    points.sort();
    let svg = chart::best_over_time(&points, higher, spec.judging.baseline.0);

    let mut receipts = String::from(
        r#"<table id="receipts"><thead><tr><th>submission</th><th>evaluator</th><th>role</th><th>finding</th><th>fee</th><th>forfeited</th><th>seq</th></tr></thead><tbody>"#,
    );
    for s in &subs {
        for r in ledger.receipts_for(s.id) {
            let _ = write!(
                receipts,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                s.id,
                short(&r.evaluator.to_hex()),
                role_name(r.role),
                finding_text(&r.finding),
                r.fee,
                r.forfeited,
                r.seq
            );
        }
    }
    receipts.push_str("</tbody></table>");
    let payouts = match &b.settlement {
        None => {
            "<p class=\"muted\">Not settled yet: the reward is paid when the bounty closes.</p>"
                .to_owned()
        }
        Some(st) => {
            let mut t = String::from(
                r#"<table id="payouts"><thead><tr><th>submission</th><th>miner</th><th>amount</th></tr></thead><tbody>"#,
            );
            for p in &st.payouts {
                let _ = write!(
                    t,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                    p.submission,
                    short(&p.miner.to_hex()),
                    p.amount
                );
            }
            let _ = write!(
                t,
                "</tbody></table><p id=\"refunds\">Refunded to the sponsor: reward {}, evaluation budget {}, deposits of unscorable submissions {}. Deposits returned to miners: {}.</p>",
                st.reward_refund, st.budget_refund, st.deposits_forfeited, st.deposits_returned
            );
            t
        }
    };
    let body = format!(
        r#"<dl>
<dt>status</dt><dd id="status">{status}</dd>
<dt>task</dt><dd>{task}, metric {metric} ({dir} is better), baseline {baseline}</dd>
<dt>architecture</dt><dd>{family}, at most {params} parameters{base}</dd>
<dt>reward</dt><dd>{reward} ({payout})</dd>
<dt>deadline</dt><dd>{deadline}</dd>
<dt>quorum</dt><dd>{quorum} receipts, fee {fee} each</dd>
<dt>licence</dt><dd>{licence} ({commercial}, fee {lfee})</dd>
<dt>datasets</dt><dd>train <code>{train}</code>, hidden <code>{hidden}</code> {sealed}</dd>
</dl>
<p>{description}</p>
<h2>Best score over time</h2>
{svg}
<h2>Leaderboard</h2>
{board}
<h2>Receipts</h2>
{receipts}
<h2>Payouts</h2>
{payouts}"#,
        status = b.status.as_str(),
        task = spec.task,
        metric = spec.judging.metric,
        dir = if higher { "higher" } else { "lower" },
        baseline = spec.judging.baseline,
        family = spec.architecture.family,
        params = spec.architecture.max_parameters,
        base = spec.base_model.map_or(String::new(), |h| format!(
            ", fine-tuned from <a href=\"/models/{h}\"><code>{}</code></a>{}",
            short(&h.to_hex()),
            spec.architecture
                .adapters
                .map_or(String::new(), |a| format!(
                    " (LoRA adapters of rank at most {}, training at most {} parameters)",
                    a.max_rank, a.max_trainable_parameters
                ))
        )),
        reward = spec.reward,
        payout = spec.payout,
        deadline = spec.deadline_ms.utc(),
        quorum = spec.quorum,
        fee = spec.fee_per_receipt,
        licence = esc(&spec.licence.name),
        commercial = spec.licence.commercial_use,
        lfee = spec.licence.fee,
        train = short(&spec.train_dataset.to_hex()),
        hidden = short(&spec.hidden_dataset.to_hex()),
        sealed = if b.is_sealed() {
            "(sealed until close)"
        } else {
            ""
        },
        description = esc(&spec.description),
        board = leaderboard_table(&rows),
    );
    Ok(page(&format!("Bounty {id}: {}", spec.title), &body))
}

async fn model(
    State(node): State<Arc<Node>>,
    Path(hash): Path<String>,
) -> Result<Html<String>, ApiError> {
    let hash = parse_hash(&hash)?;
    let ledger = node.state();
    let p = ledger
        .provenance(&hash)
        .ok_or_else(|| ApiError::NotFound(format!("no model with weights hash {hash}")))?;
    let mut lineage = String::new();
    let mut cursor = p.model.parent;
    let mut depth = 0;
    while let (Some(parent), true) = (cursor, depth < 32) {
        let _ = write!(
            lineage,
            r#"<li><a href="/models/{parent}"><code>{}</code></a></li>"#,
            short(&parent.to_hex())
        );
        cursor = ledger.model(&parent).and_then(|m| m.parent);
        depth += 1;
    }
    if lineage.is_empty() {
        lineage.push_str("<li class=\"muted\">trained from scratch</li>");
    }
    let children: String = p
        .children
        .iter()
        .map(|c| {
            format!(
                r#"<li><a href="/models/{c}"><code>{}</code></a></li>"#,
                short(&c.to_hex())
            )
        })
        .collect();
    let mut licences = String::from(
        r#"<table id="licences"><thead><tr><th>licence</th><th>licensee</th><th>fee</th><th>split</th></tr></thead><tbody>"#,
    );
    for l in &p.licences {
        let splits: Vec<String> = l
            .splits
            .iter()
            .map(|(a, amt)| format!("<code>{}</code> {amt}", short(&a.to_hex())))
            .collect();
        let _ = write!(
            licences,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            l.id,
            short(&l.licensee.to_hex()),
            l.fee,
            splits.join(", ")
        );
    }
    licences.push_str("</tbody></table>");
    let t = &p.licence_terms;
    let body = format!(
        r#"<dl>
<dt>weights hash</dt><dd><code>{hash}</code></dd>
{origin}
<dt>licence</dt><dd>{name}: commercial use {cu}, derivation {der}, fee {fee}</dd>
<dt>royalties received</dt><dd id="royalties">{royalties}</dd>
<dt>licences sold</dt><dd>{sold}</dd>
</dl>
<h2>Lineage</h2><ol id="lineage">{lineage}</ol>
<h2>Fine-tuned from this model</h2><ul>{children}</ul>
<h2>Licences</h2>{licences}"#,
        origin = origin(&p),
        name = esc(&t.name),
        cu = t.commercial_use,
        der = t.derivation,
        fee = t.fee,
        royalties = p.model.royalties_received,
        sold = p.model.licences_sold,
    );
    Ok(page(&format!("Model {}", short(&hash.to_hex())), &body))
}

/// Where a model comes from: its bounty, miner and submission, or its
/// publisher and source.
fn origin(p: &bounties::state::Provenance) -> String {
    let file = short(&p.file_hash.to_hex());
    match (&p.model.origin, &p.bounty_title, p.bounty_status) {
        (Origin::Submitted { submission, bounty }, Some(title), Some(status)) => format!(
            r#"<dt>bounty</dt><dd><a href="/bounties/{bounty}">{bounty}: {title}</a> ({status})</dd>
<dt>miner</dt><dd><code>{miner}</code></dd>
<dt>submission</dt><dd>{submission}, file <code>{file}</code></dd>"#,
            title = esc(title),
            status = status.as_str(),
            miner = p.model.miner,
        ),
        (
            Origin::Published {
                source,
                published_at,
                ..
            },
            _,
            _,
        ) => format!(
            r#"<dt>published</dt><dd>by <code>{publisher}</code> at {published_at}, file <code>{file}</code></dd>
<dt>source</dt><dd>{source}</dd>"#,
            publisher = p.model.miner,
            source = esc(source),
        ),
        _ => String::new(),
    }
}

/// A receipt's role in words.
fn role_name(role: bounties::state::records::ReceiptRole) -> &'static str {
    use bounties::state::records::ReceiptRole;
    match role {
        ReceiptRole::Panel => "panel",
        ReceiptRole::DisputePanel => "dispute panel",
        ReceiptRole::Challenger => "challenger",
    }
}

/// A finding in words: the score, or why the file is unscorable.
fn finding_text(f: &bounties::message::Finding) -> String {
    match f {
        bounties::message::Finding::Scored { score, .. } => score.to_string(),
        bounties::message::Finding::Unscorable(why) => format!("unscorable: {}", why.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }

    #[test]
    fn the_leaderboard_says_why_a_file_is_unscorable() {
        use bounties::{AccountId, Amount, Hash32, SubmissionId, TimestampMs};
        let row = |score: Option<Score>, unscorable| LeaderboardRow {
            rank: score.map(|_| 1),
            submission: SubmissionId(7),
            miner: AccountId([1; 32]),
            weights_hash: Hash32([2; 32]),
            score,
            unscorable,
            receipts: 2,
            submitted_at: TimestampMs(0),
            record: false,
            payout: Amount::ZERO,
        };
        let table = leaderboard_table(&[
            row(Some(Score(953_000)), None),
            row(None, Some(bounties::message::Unscorable::OverLimits)),
            row(None, None),
        ]);
        assert!(table.contains(">0.953000<"), "{table}");
        assert!(table.contains(">unscorable (over_limits)<"), "{table}");
        assert_eq!(table.matches(">pending<").count(), 1, "{table}");
    }
}
