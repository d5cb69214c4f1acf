//! The dashboard's script and style, served from this binary (no CDN: the pages work with no
//! internet) and not inline, so the Content-Security-Policy can forbid inline script.

use axum::http::header;
use axum::response::{IntoResponse, Response};

pub const LIVE_JS: &str = "/static/live.js";
pub const STYLE_CSS: &str = "/static/style.css";

/// Keeps a campaign's page live: on every `rollup` event the fragment again, for the view the
/// address bar names (its query string), swapped in whole (charts included). The campaign's id is
/// read from the page (`data-campaign`); the browser's EventSource reconnects by itself.
/// `data-version` on `#tree` says which rollup is drawn, `data-heard` and `data-drawn` when (ms since
/// the epoch) its event arrived and the new fragment was in place (the browser test measures them).
const LIVE: &str = r#"(function(){
const tree=document.getElementById('tree');
if(!tree){return;}
const id=encodeURIComponent(tree.dataset.campaign);
const live=document.getElementById('live');
const es=new EventSource('/campaigns/'+id+'/events');
let busy=false,again=false;
async function redraw(){
 if(busy){again=true;return;}
 busy=true;
 try{
  const r=await fetch('/campaigns/'+id+'/tree'+location.search,{credentials:'same-origin'});
  if(r.status===401){live.textContent='登录已过期，请重新登录 session expired';es.close();return;}
  if(r.ok){tree.innerHTML=await r.text();const v=tree.querySelector('[data-version]');
   if(v){tree.dataset.version=v.dataset.version;}tree.dataset.drawn=String(Date.now());}
 }finally{busy=false;if(again){again=false;redraw();}}
}
es.addEventListener('rollup',e=>{const d=JSON.parse(e.data);
 if(String(d.version)!==tree.dataset.version){tree.dataset.heard=String(Date.now());redraw();}});
es.onerror=()=>{live.textContent='连接中断，重连中 reconnecting';};
es.onopen=()=>{live.textContent='实时 live';};
})();
"#;

pub async fn live_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        LIVE,
    )
        .into_response()
}

/// Readable on a phone (one column, tables scroll sideways) and at 1366×768 (two columns of charts).
const STYLE: &str = "*{box-sizing:border-box}\
body{font-family:system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:0;color:#222;line-height:1.45}\
main{padding:.75rem 1rem;max-width:1340px;margin:0 auto}\
header.top{display:flex;justify-content:space-between;align-items:center;gap:.5rem;flex-wrap:wrap;padding:.4rem 1rem;background:#8b1a1a;color:#fff}\
header.top a{color:#fff;font-weight:bold;text-decoration:none}header.top form{display:flex;gap:.5rem;align-items:center;margin:0}\
h1{font-size:1.35rem;margin:.4rem 0}h2{font-size:1.15rem}h3{font-size:1.05rem;margin:.8rem 0 .3rem}\
.scroll{overflow-x:auto;max-width:100%}\
table{border-collapse:collapse;margin:.4rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}\
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.late{color:#a40}.missing{color:#a00}\
.returned{color:#a00}.accepted{color:#070}.pending{color:#666}details{margin:.3rem 0}\
.crumbs{margin:.3rem 0}.crumbs a{margin-right:.2rem}\
.charts{display:grid;grid-template-columns:1fr;gap:.8rem}\
@media (min-width:900px){.charts{grid-template-columns:1fr 1fr}}\
figure{margin:0;border:1px solid #ddd;border-radius:4px;padding:.4rem}figcaption{font-weight:bold;margin-bottom:.2rem}\
svg.chart{width:100%;height:auto;display:block}svg.chart text{font-size:11px;fill:#333}\
svg.chart a text{fill:#0645ad}\
.finding{color:#a40;font-size:.9em}tr.flagged td{background:#fff6e5}\
form.review{border:1px solid #ccc;padding:.6rem;margin:.6rem 0;max-width:40rem}\
form.review textarea{width:100%;min-height:4rem}form.review button{margin-right:.6rem;padding:.3rem .9rem}\
.note{color:#555;font-size:.9em}\
@media (max-width:600px){main{padding:.5rem}td,th{padding:.15rem .3rem}}";

pub async fn style_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}
