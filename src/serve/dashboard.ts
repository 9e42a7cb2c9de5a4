/**
 * The dashboard's pages: server-rendered HTML shells, one stylesheet and one script, all inline in
 * the package (no CDN, works offline). Curves are SVG drawn by the script: one chart per metric,
 * train and validation lines, hover shows the value, drag across a chart to zoom every chart to
 * that step range, double-click to reset. A run page follows its run live through
 * /api/runs/{name}/events (server-sent events), so a run that is still training draws as it goes.
 */
import type { Entry } from './registry.js';

export const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** A run or model name as a URL path (each segment encoded). */
export const urlName = (name: string) => name.split('/').map(encodeURIComponent).join('/');

function shell(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)} · aelab</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/static/dashboard.css"></head>
<body><header><a href="/" class="brand">aelab</a> <span>${esc(title)}</span></header><main>${body}</main>
<script src="/static/dashboard.js"></script></body></html>`;
}

const fmt = (v: unknown) => (typeof v === 'number' ? (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : String(Number(v.toPrecision(4)))) : v === null || v === undefined ? '–' : esc(v));

export function indexPage(runs: Record<string, unknown>[], models: Entry[], caches: Entry[] = []): string {
  const runRows = runs.map((r) => `<tr><td><a href="/runs/${urlName(String(r.name))}">${esc(r.name)}</a></td><td>${r.running ? '<span class="live">training</span>' : r.done ? 'done' : 'stopped'}</td><td>${fmt(r.steps)}</td><td>${fmt(r.loss)}</td></tr>`).join('');
  const modelRows = models.map((m) => `<tr><td>${esc(m.name)}</td><td>${esc(m.kind)}</td><td><code>POST /v1/models/${esc(urlName(m.name))}/${m.kind === 'detector' ? 'score' : 'encode'}</code></td></tr>`).join('');
  const cacheRows = caches.map((c) => `<li><a href="/latents/${urlName(c.name)}">${esc(c.name)}</a></li>`).join('');
  return shell('runs and models', `
<h2>Runs</h2>${runs.length ? `<table id="runs"><tr><th>run</th><th>state</th><th>step</th><th>last loss</th></tr>${runRows}</table>` : '<p>No runs in the served folders.</p>'}
<h2>Latent caches</h2>${caches.length ? `<ul id="caches">${cacheRows}</ul>` : '<p>No latent caches (<code>aelab latents cache</code> makes one).</p>'}
<h2>Models</h2>${models.length ? `<table id="models"><tr><th>name</th><th>kind</th><th>inference</th></tr>${modelRows}</table>` : '<p>No saved models in the served folders.</p>'}
${models.some((m) => m.kind === 'sae' || m.kind === 'model') ? '<p><a id="demo-link" href="/demo">Browser demo</a>: encode with an SAE, or reconstruct a drawn digit, inside this page</p>' : ''}`);
}

export function latentsPage(name: string): string {
  return shell(`latents of ${name}`, `
<section id="latents" data-cache="${esc(urlName(name))}">
<p><input id="search" type="search" placeholder="latent id or words of its explanation" size="40"> <span id="count"></span></p>
<p class="hint">Click a column to sort.</p>
<table id="latent-table"><thead><tr><th data-k="latent">latent</th><th data-k="density">density</th><th data-k="mean">mean act.</th><th data-k="max">max act.</th><th data-k="score">score</th><th>explanation</th></tr></thead><tbody></tbody></table>
</section>`);
}

export function latentPage(name: string, id: number): string {
  return shell(`latent ${id} of ${name}`, `
<section id="latent" data-cache="${esc(urlName(name))}" data-latent="${id}">
<p><a href="/latents/${urlName(name)}">all latents</a> · <a href="/latents/${urlName(name)}/${Math.max(0, id - 1)}">previous</a> · <a href="/latents/${urlName(name)}/${id + 1}">next</a></p>
<div id="facts"></div>
<div class="row"><div><h3>Activation histogram</h3><svg id="hist" viewBox="0 0 400 120" preserveAspectRatio="none"></svg></div>
<div><h3>Logit effects</h3><div id="logits"></div></div><div><h3>Heads</h3><div id="heads"></div></div></div>
<h3>Explanations and scores</h3><div id="explanations"></div>
<h3>Contexts</h3><p class="hint">Each token is shaded by the latent's activation; hover for the value.</p><div id="contexts"></div>
</section>`);
}

export function runPage(name: string, checkpoints: string[], files: string[]): string {
  return shell(`run ${name}`, `
<section id="run" data-run="${esc(urlName(name))}">
<p class="hint">Drag across a chart to zoom all charts to those steps; double-click to reset. <span id="status"></span></p>
<div id="charts"></div>
<h2>Configuration</h2><pre id="config">…</pre>
<h2>Checkpoints</h2>${checkpoints.length ? `<ul>${checkpoints.map((c) => `<li>${esc(c)}</li>`).join('')}</ul>` : '<p>none yet</p>'}
<h2>Files</h2>${files.length ? `<ul>${files.map((f) => `<li><a href="/files/${urlName(name)}/${encodeURIComponent(f)}">${esc(f)}</a></li>`).join('')}</ul>` : '<p>none</p>'}
</section>`);
}

export const DASHBOARD_CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#1d1d1f;color:#eee;padding:8px 16px}header a{color:#fff;font-weight:600;text-decoration:none;margin-right:12px}
main{padding:8px 16px;max-width:1200px}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
.live{color:#0a7d32;font-weight:600}.hint{color:#666}pre{background:#fff;border:1px solid #ddd;padding:8px;overflow:auto;max-height:320px}
#charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
.chart{background:#fff;border:1px solid #ddd;padding:6px}.chart h3{margin:0 0 4px;font-size:13px}
.chart svg{width:100%;height:200px;cursor:crosshair;user-select:none}.tip{font-size:12px;color:#333;min-height:16px}
.row{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:16px}#hist{width:100%;height:120px;background:#fff;border:1px solid #ddd}
.ctx{font-family:ui-monospace,monospace;font-size:12px;background:#fff;border:1px solid #eee;padding:3px 6px;margin:2px 0;white-space:pre-wrap}
.tok{border-radius:2px}th[data-k]{cursor:pointer;text-decoration:underline dotted}.bar{display:inline-block;height:10px;background:#1f6feb;vertical-align:middle}
`;

/** The page script (plain ES2017, no dependencies). */
export const DASHBOARD_JS = String.raw`(function(){
'use strict';

function latentsList(){var sec=document.getElementById('latents');if(!sec)return;var cache=sec.getAttribute('data-cache'),tok=new URLSearchParams(location.search).get('token'),q=tok?'?token='+encodeURIComponent(tok):'';
  var all=[],key='density',dir=-1;
  function fmtv(v){return v===null||v===undefined?'–':(Math.abs(v)>=1e4||(v!==0&&Math.abs(v)<1e-3)?v.toExponential(2):String(+v.toPrecision(3)));}
  function render(){var term=document.getElementById('search').value.trim().toLowerCase();
    var rows=all.filter(function(r){return !term||String(r.latent)===term||(r.explanation||'').toLowerCase().indexOf(term)>=0;});
    rows.sort(function(a,b){var x=a[key],y=b[key];if(x===null)return 1;if(y===null)return -1;return dir*(x-y);});
    document.getElementById('count').textContent=rows.length+' of '+all.length+' latents';
    var tb=document.querySelector('#latent-table tbody');tb.innerHTML='';
    rows.slice(0,500).forEach(function(r){var tr=document.createElement('tr');
      tr.innerHTML='<td><a href="/latents/'+cache+'/'+r.latent+q+'">'+r.latent+'</a></td><td>'+fmtv(r.density)+'</td><td>'+fmtv(r.mean)+'</td><td>'+fmtv(r.max)+'</td><td>'+fmtv(r.score)+'</td><td></td>';
      tr.lastChild.textContent=r.explanation||'';tb.appendChild(tr);});}
  document.getElementById('search').addEventListener('input',render);
  Array.prototype.forEach.call(document.querySelectorAll('th[data-k]'),function(th){th.addEventListener('click',function(){var k=th.getAttribute('data-k');dir=k===key?-dir:-1;key=k;render();});});
  fetch('/api/latents/'+cache+q).then(function(r){return r.json();}).then(function(d){all=d.latents;render();});}
function latentDetail(){var sec=document.getElementById('latent');if(!sec)return;var cache=sec.getAttribute('data-cache'),id=sec.getAttribute('data-latent'),tok=new URLSearchParams(location.search).get('token'),q=tok?'?token='+encodeURIComponent(tok):'';
  function el(tag,text,cls){var e=document.createElement(tag);if(text!==undefined)e.textContent=text;if(cls)e.className=cls;return e;}
  fetch('/api/latents/'+cache+'/'+id+q).then(function(r){if(!r.ok)throw new Error('latent '+id+': HTTP '+r.status);return r.json();}).then(function(d){
    document.getElementById('facts').textContent='hook '+d.hook+' · density '+(+d.density.toPrecision(3))+' ('+d.activePositions+' positions) · mean '+(+d.mean.toPrecision(3))+' · max '+(+d.max.toPrecision(3));
    var h=d.histogram,mx=Math.max.apply(null,h.concat([1])),w=400/Math.max(1,h.length),svg='';
    h.forEach(function(c,i){var bh=c/mx*110;svg+='<rect x="'+(i*w+1)+'" y="'+(118-bh)+'" width="'+(w-2)+'" height="'+bh+'" fill="#1f6feb"><title>'+c+' activations in ('+(i*d.max/h.length).toPrecision(3)+', '+((i+1)*d.max/h.length).toPrecision(3)+']</title></rect>';});
    document.getElementById('hist').innerHTML=svg;
    var lg=document.getElementById('logits');
    if(d.logits){[['promoted',d.logits.top],['suppressed',d.logits.bottom]].forEach(function(p){var div=el('div');div.appendChild(el('b',p[0]+': '));div.appendChild(el('span',p[1].map(function(t){return JSON.stringify(t.token)+' '+t.value.toFixed(2);}).join(', ')));lg.appendChild(div);});}
    else lg.textContent='not available for this hook';
    var hd=document.getElementById('heads');
    if(d.heads){d.heads.forEach(function(s,i){var row=el('div','head '+i+' ');var b=el('span','', 'bar');b.style.width=(s*200)+'px';row.appendChild(b);row.appendChild(el('span',' '+(s*100).toFixed(1)+'%'));hd.appendChild(row);});}
    else hd.textContent=/hook_z$/.test(d.hook)?'the SAE or model folder named in the cache is not readable':'only for attn.hook_z SAEs';
    var ex=document.getElementById('explanations');
    if(!d.explanations.length&&!d.scores.length)ex.textContent='none yet (aelab latents explain / score)';
    d.explanations.forEach(function(e){var p=el('p');p.appendChild(el('b',e.label+': '));p.appendChild(el('span',e.explanation));ex.appendChild(p);});
    d.scores.forEach(function(s){var m=s.metrics;ex.appendChild(el('p',s.run+' '+s.scorer+': balanced accuracy '+(m.balancedAccuracy===null?'–':m.balancedAccuracy.toFixed(3))+', F1 '+(m.f1===null||m.f1===undefined?'–':m.f1.toFixed(3))));});
    var ctx=document.getElementById('contexts');
    d.groups.forEach(function(g){if(!g.examples.length)return;ctx.appendChild(el('h4',g.name));
      g.examples.forEach(function(e){var div=el('div',undefined,'ctx');e.tokens.forEach(function(t,i){var s=el('span',t,'tok');var a=e.acts[i];if(a>0){s.style.background='rgba(255,120,0,'+Math.min(1,a/(d.max||1)).toFixed(3)+')';}s.title=a.toPrecision(4);div.appendChild(s);});ctx.appendChild(div);});});
  }).catch(function(err){document.getElementById('facts').textContent=String(err);});}
latentsList();latentDetail();

var root=document.getElementById('run');if(!root)return;
var name=root.getAttribute('data-run');var tok=new URLSearchParams(location.search).get('token');
var q=tok?'?token='+encodeURIComponent(tok):'';
var SKIP={step:1,tokens:1,epoch:1,seconds:1,split:1,final:1};
var rows=[],zoom=null,charts={};
function series(key){var out={};rows.forEach(function(r){var v=r[key];if(typeof v!=='number'||!isFinite(v))return;var s=r.split||'train';(out[s]=out[s]||[]).push([r.step,v]);});return out;}
function keys(){var k={};rows.forEach(function(r){for(var n in r)if(!SKIP[n]&&typeof r[n]==='number')k[n]=1;});return Object.keys(k);}
function fmt(v){var a=Math.abs(v);return a!==0&&(a<1e-3||a>=1e5)?v.toExponential(2):String(+v.toPrecision(4));}
var COLORS={train:'#1f6feb',val:'#d1242f'};
function draw(key){
  var box=charts[key];if(!box){box=document.createElement('div');box.className='chart';box.innerHTML='<h3></h3><svg viewBox="0 0 400 200" preserveAspectRatio="none"></svg><div class="tip"></div>';box.querySelector('h3').textContent=key;document.getElementById('charts').appendChild(box);charts[key]=box;wire(box);}
  var s=series(key),svg=box.querySelector('svg'),all=[];for(var n in s)s[n].forEach(function(p){if(!zoom||(p[0]>=zoom[0]&&p[0]<=zoom[1]))all.push(p);});
  if(!all.length){svg.innerHTML='';return;}
  var x0=zoom?zoom[0]:Math.min.apply(null,all.map(function(p){return p[0];})),x1=zoom?zoom[1]:Math.max.apply(null,all.map(function(p){return p[0];}));
  var y0=Math.min.apply(null,all.map(function(p){return p[1];})),y1=Math.max.apply(null,all.map(function(p){return p[1];}));
  if(x1===x0)x1=x0+1;if(y1===y0){y1+=Math.abs(y0)*0.05+1e-9;y0-=Math.abs(y0)*0.05+1e-9;}
  var L=44,R=396,T=6,B=186;box._scale={x0:x0,x1:x1,L:L,R:R};
  function X(v){return L+(v-x0)/(x1-x0)*(R-L);}function Y(v){return B-(v-y0)/(y1-y0)*(B-T);}
  var h='<line x1="'+L+'" y1="'+B+'" x2="'+R+'" y2="'+B+'" stroke="#999"/><line x1="'+L+'" y1="'+T+'" x2="'+L+'" y2="'+B+'" stroke="#999"/>';
  h+='<text x="2" y="'+(T+8)+'" font-size="9">'+fmt(y1)+'</text><text x="2" y="'+B+'" font-size="9">'+fmt(y0)+'</text><text x="'+L+'" y="198" font-size="9">'+fmt(x0)+'</text><text x="'+(R-30)+'" y="198" font-size="9">'+fmt(x1)+'</text>';
  for(var n2 in s){var pts=s[n2].filter(function(p){return p[0]>=x0&&p[0]<=x1;}).map(function(p){return X(p[0]).toFixed(1)+','+Y(p[1]).toFixed(1);});
    if(pts.length)h+='<polyline class="line-'+n2+'" fill="none" stroke="'+(COLORS[n2]||'#555')+'" stroke-width="1.5" vector-effect="non-scaling-stroke" points="'+pts.join(' ')+'"/>';}
  h+='<rect class="sel" x="0" y="0" width="0" height="200" fill="#1f6feb" opacity="0.15"/>';
  svg.innerHTML=h;box.setAttribute('data-points',String(all.length));
}
function redraw(){keys().forEach(draw);}
function stepAt(box,ev){var r=box.querySelector('svg').getBoundingClientRect(),sc=box._scale;if(!sc)return null;var px=(ev.clientX-r.left)/r.width*400;return sc.x0+(px-sc.L)/(sc.R-sc.L)*(sc.x1-sc.x0);}
function wire(box){var svg=box.querySelector('svg'),start=null;
  svg.addEventListener('mousedown',function(e){start=stepAt(box,e);});
  svg.addEventListener('mousemove',function(e){var x=stepAt(box,e);if(x===null)return;var key=box.querySelector('h3').textContent,s=series(key),best=null;
    for(var n in s)s[n].forEach(function(p){if(!best||Math.abs(p[0]-x)<Math.abs(best[1][0]-x))best=[n,p];});
    if(best)box.querySelector('.tip').textContent=best[0]+' step '+best[1][0]+': '+fmt(best[1][1]);
    if(start!==null){var sel=svg.querySelector('.sel'),sc=box._scale,a=Math.min(start,x),b=Math.max(start,x);sel.setAttribute('x',String(sc.L+(a-sc.x0)/(sc.x1-sc.x0)*(sc.R-sc.L)));sel.setAttribute('width',String((b-a)/(sc.x1-sc.x0)*(sc.R-sc.L)));}});
  svg.addEventListener('mouseup',function(e){var x=stepAt(box,e);if(start!==null&&x!==null&&Math.abs(x-start)>0){zoom=[Math.min(start,x),Math.max(start,x)];redraw();}start=null;});
  svg.addEventListener('dblclick',function(){zoom=null;redraw();});}
function status(t){document.getElementById('status').textContent=t;}
function load(){fetch('/api/runs/'+name+q).then(function(r){return r.json();}).then(function(d){rows=d.metrics.concat((d.evals||[]).map(function(e){var o={};for(var k in e)o[k]=e[k];o.split='val';return o;}));
  document.getElementById('config').textContent=JSON.stringify(d.config,null,2);redraw();status(d.running?'live: following the run':'');});}
load();
if(window.EventSource){var es=new EventSource('/api/runs/'+name+'/events'+q);
  es.addEventListener('metrics',function(ev){try{rows.push(JSON.parse(ev.data));redraw();status('live: step '+rows[rows.length-1].step);}catch(e){}});
  es.addEventListener('reset',function(){load();});}
})();`;
