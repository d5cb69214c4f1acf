//! The frame every page shares: header with the union's name, the menu, logout, and the body.

use axum::response::Html;
use bangfu_web::Session;
use bangfu_web::http::esc;

use super::Ui;

/// A whole page: `title` in the tab and heading, `body` already escaped HTML.
pub fn render(ui: &Ui, session: &Session, title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {org}</title>
<link rel="stylesheet" href="/static/ui.css">
<script src="/static/ui.js" defer></script>
</head><body>
<header><div class="org">{org} <small>{code}</small></div>
<nav><a href="/">首页 <small>Home</small></a><a href="/import">导入 <small>Import</small></a><a href="/campaigns">填报 <small>Figures</small></a><a href="/archive">档案 <small>Archive</small></a></nav>
<form method="post" action="/logout" class="logout">{csrf}<span>{user}</span><button type="submit">退出 <small>Log out</small></button></form>
</header>
<main><h1>{title}</h1>
{body}
</main></body></html>
"#,
        title = esc(title),
        org = esc(&ui.settings.name),
        code = esc(ui.settings.org.as_str()),
        csrf = session.csrf_field(),
        user = esc(&session.user),
    ))
}

/// A small table: header cells and rows of already-escaped cells.
pub fn table(head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = String::from("<div class=\"scroll\"><table><thead><tr>");
    for h in head {
        out.push_str(&format!("<th>{h}</th>"));
    }
    out.push_str("</tr></thead><tbody>");
    let mut any = false;
    for row in rows {
        any = true;
        out.push_str("<tr>");
        for c in row {
            out.push_str(&format!("<td>{c}</td>"));
        }
        out.push_str("</tr>");
    }
    if !any {
        out.push_str(&format!(
            "<tr><td colspan=\"{}\" class=\"none\">无 / none</td></tr>",
            head.len()
        ));
    }
    out.push_str("</tbody></table></div>");
    out
}
