//! Silences: one-off and recurring windows in which matching alerts are not notified. Rendered
//! with maud from [`SilenceRow`] and [`SilenceForm`], which escapes every value.

use super::*;

/// Where a silence stands now.
enum SilenceState {
    Recurring,
    Scheduled,
    Active,
    Expired,
}

/// One line of the list, from a stored silence.
struct SilenceRow {
    id: i64,
    /// What it matches, one part each ("host web-1", "tags dc=eu").
    matches: Vec<String>,
    state: SilenceState,
    starts_at: i64,
    ends_at: i64,
    author: String,
    reason: String,
}

impl SilenceRow {
    fn of(x: &Value, group_names: &HashMap<i64, String>, now: i64) -> SilenceRow {
        let m = &x["matcher"];
        let mut matches = Vec::new();
        if let Some(e) = m["endpoint"].as_str() {
            matches.push(format!("host {e}"));
        }
        if let Some(g) = m["host_group_id"].as_i64() {
            let name = group_names.get(&g).map(String::as_str).unwrap_or("?");
            matches.push(format!("group {name}"));
        }
        if let Some(e) = m["metric"].as_str() {
            matches.push(format!("metric {e}"));
        }
        if let Some(e) = m["strategy_id"].as_i64() {
            matches.push(format!("strategy {e}"));
        }
        let tags = tags_text(&m["tags"]);
        if !tags.is_empty() {
            matches.push(format!("tags {tags}"));
        }
        let (starts_at, ends_at) = (
            x["starts_at"].as_i64().unwrap_or(0),
            x["ends_at"].as_i64().unwrap_or(0),
        );
        let state = if x["repeat_every_secs"].as_i64().is_some() {
            SilenceState::Recurring
        } else if now < starts_at {
            SilenceState::Scheduled
        } else if now < ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        };
        SilenceRow {
            id: id(x),
            matches,
            state,
            starts_at,
            ends_at,
            author: s(x, "author"),
            reason: s(x, "reason"),
        }
    }

    fn render(&self, editor: bool) -> Markup {
        let (class, label) = match self.state {
            SilenceState::Recurring => ("badge warn", "recurring"),
            SilenceState::Scheduled => ("badge", "scheduled"),
            SilenceState::Active => ("badge ok", "active"),
            SilenceState::Expired => ("badge", "expired"),
        };
        html! {
            tr {
                td { (self.matches.join(", ")) }
                td { span class=(class) { (label) } }
                td { (fmt_time(self.starts_at)) " → " (fmt_time(self.ends_at)) }
                td { (self.author) }
                td { (self.reason) }
                td.right { (row_actions("/silences", "silences", self.id, editor)) }
            }
        }
    }
}

/// The create-or-edit form's fields, from the edited silence (empty for a new one).
struct SilenceForm {
    endpoint: String,
    host_group: Vec<i64>,
    metric: String,
    strategy_id: String,
    tags: String,
    /// `datetime-local` values, `YYYY-MM-DDTHH:MM` (the form says the time is UTC).
    starts_at: String,
    ends_at: String,
    repeat_every_secs: String,
    reason: String,
}

impl SilenceForm {
    fn of(f: &FormTarget) -> SilenceForm {
        let m = &f.object["matcher"];
        let local = |k: &str| match f.object[k].as_i64() {
            Some(t) => fmt_time(t).replace(' ', "T"),
            None => String::new(),
        };
        SilenceForm {
            endpoint: s(m, "endpoint"),
            host_group: m["host_group_id"].as_i64().into_iter().collect(),
            metric: s(m, "metric"),
            strategy_id: s(m, "strategy_id"),
            tags: tags_text(&m["tags"]),
            starts_at: local("starts_at"),
            ends_at: local("ends_at"),
            repeat_every_secs: f.raw("repeat_every_secs"),
            reason: f.raw("reason"),
        }
    }

    fn render(&self, groups: &[Value]) -> Markup {
        html! {
            label { "Host" input name="matcher.endpoint" value=(self.endpoint); }
            label {
                "Host group"
                select name="matcher.host_group_id" data-type="int" {
                    (options(groups, &self.host_group, Some("")))
                }
            }
            label { "Metric" input name="matcher.metric" value=(self.metric); }
            label {
                "Strategy id"
                input name="matcher.strategy_id" data-type="int" size="5" value=(self.strategy_id);
            }
            label {
                "Tags"
                input name="matcher.tags" data-type="tags" placeholder="k=v,k2=v2" value=(self.tags);
            }
            label {
                "Starts (UTC)"
                input name="starts_at" type="datetime-local" data-type="time" required
                    value=(self.starts_at);
            }
            label {
                "Ends (UTC)"
                input name="ends_at" type="datetime-local" data-type="time" required
                    value=(self.ends_at);
            }
            label {
                "Repeat every (s)"
                input name="repeat_every_secs" data-type="int" size="7" placeholder="once"
                    value=(self.repeat_every_secs);
            }
            label { "Reason" input name="reason" required value=(self.reason); }
        }
    }
}

/// `GET /silences`.
pub(crate) async fn silences(req: HttpRequest, st: web::Data<State>, e: web::Query<Edit>) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let list = objects(&st, t, Kind::Silence).await?;
    let groups = objects(&st, t, Kind::HostGroup).await?;
    let gn = names(&groups);
    let editor = a.role >= Role::Editor;
    let now = now_secs();
    let rows: Vec<Markup> = list
        .iter()
        .map(|x| SilenceRow::of(x, &gn, now).render(editor))
        .collect();
    let form = editor.then(|| {
        let f = FormTarget::of(Kind::Silence, &list, e.edit);
        f.form("/silences", SilenceForm::of(&f).render(&groups))
    });
    let body = html! {
        div.panel {
            (table(
                &["Matches", "State", "Window (UTC)", "By", "Why", ""],
                &rows,
                "No silences.",
            ))
        }
        @if let Some(f) = form { (f) }
    };
    Ok(page(&a, "/silences", "Silences", body))
}
