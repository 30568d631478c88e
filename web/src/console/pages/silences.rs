//! Silences: one-off and recurring windows in which matching alerts are not notified.

use super::*;

/// `GET /silences`.
pub(crate) async fn silences(req: HttpRequest, st: web::Data<State>, e: web::Query<Edit>) -> Page {
    let a = auth!(req, st);
    let t = a.tenant.as_str();
    let list = objects(&st, t, Kind::Silence).await?;
    let groups = objects(&st, t, Kind::HostGroup).await?;
    let gn = names(&groups);
    let editor = a.role >= Role::Editor;
    let now = now_secs();
    let rows: Vec<String> = list
        .iter()
        .map(|x| {
            let m = &x["matcher"];
            let mut parts = Vec::new();
            if let Some(e) = m["endpoint"].as_str() { parts.push(format!("host {}", esc(e))); }
            if let Some(g) = m["host_group_id"].as_i64() { parts.push(format!("group {}", esc(gn.get(&g).map(String::as_str).unwrap_or("?")))); }
            if let Some(e) = m["metric"].as_str() { parts.push(format!("metric {}", esc(e))); }
            if let Some(e) = m["strategy_id"].as_i64() { parts.push(format!("strategy {e}")); }
            let tags = tags_text(&m["tags"]);
            if !tags.is_empty() { parts.push(format!("tags {}", esc(&tags))); }
            let (sa, ea) = (x["starts_at"].as_i64().unwrap_or(0), x["ends_at"].as_i64().unwrap_or(0));
            let state = if x["repeat_every_secs"].as_i64().is_some() { r#"<span class="badge warn">recurring</span>"# }
                else if now < sa { r#"<span class="badge">scheduled</span>"# } else if now < ea { r#"<span class="badge ok">active</span>"# } else { r#"<span class="badge">expired</span>"# };
            format!(
                r#"<tr><td>{}</td><td>{state}</td><td>{} → {}</td><td>{}</td><td>{}</td><td class="right">{}</td></tr>"#,
                parts.join(", "), fmt_time(sa), fmt_time(ea), esc(&s(x, "author")), esc(&s(x, "reason")), row_actions("/silences", "silences", id(x), editor)
            )
        })
        .collect();
    let mut body = format!(
        r#"<div class="panel">{}</div>"#,
        table(
            &["Matches", "State", "Window (UTC)", "By", "Why", ""],
            &rows,
            "No silences."
        )
    );
    if editor {
        let f = FormTarget::of(Kind::Silence, &list, e.edit);
        let m = &f.object["matcher"];
        let group: Vec<i64> = m["host_group_id"].as_i64().into_iter().collect();
        // `datetime-local` wants `YYYY-MM-DDTHH:MM`; the form says the time is UTC.
        let local = |k: &str| match f.object[k].as_i64() {
            Some(t) => fmt_time(t).replace(' ', "T"),
            None => String::new(),
        };
        body.push_str(&format!(
            r#"{}
<label>Host<input name="matcher.endpoint" value="{}"></label><label>Host group<select name="matcher.host_group_id" data-type="int">{}</select></label>
<label>Metric<input name="matcher.metric" value="{}"></label><label>Strategy id<input name="matcher.strategy_id" data-type="int" size="5" value="{}"></label>
<label>Tags<input name="matcher.tags" data-type="tags" placeholder="k=v,k2=v2" value="{}"></label>
<label>Starts (UTC)<input name="starts_at" type="datetime-local" data-type="time" required value="{}"></label>
<label>Ends (UTC)<input name="ends_at" type="datetime-local" data-type="time" required value="{}"></label>
<label>Repeat every (s)<input name="repeat_every_secs" data-type="int" size="7" placeholder="once" value="{}"></label>
<label>Reason<input name="reason" required value="{}"></label>{}"#,
            f.open("/silences"),
            esc(&s(m, "endpoint")),
            options(&groups, &group, Some("")),
            esc(&s(m, "metric")),
            esc(&s(m, "strategy_id")),
            esc(&tags_text(&m["tags"])),
            local("starts_at"),
            local("ends_at"),
            f.text("repeat_every_secs"),
            f.text("reason"),
            f.close("/silences"),
        ));
    }
    Ok(page(&a, "/silences", "Silences", &body))
}
