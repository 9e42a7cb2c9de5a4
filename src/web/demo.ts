/**
 * The browser demo page served at /demo by `aelab serve`: pick a served SAE, the page fetches its
 * weights (GET /api/models/{name}/weights, safetensors bytes), loads the browser bundle
 * (/static/aelab.js, `npm run build:web`) and encodes activation rows in the page on the
 * pure-TypeScript backend: rows pasted as JSON, a float32 .npy file, or random rows. It shows each
 * row's strongest latents and the encode speed. A second section reconstructs a digit drawn on a
 * 280×280 canvas (averaged down to 28×28 in [0, 1]) with a served AutoEncoder (src/web/model.ts). `window.aelabDemo` exposes load/encode/bench for
 * scripted use (the browser tests and bench/web.ts drive it). Plain strings, no I/O.
 */
const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function demoPage(saes: string[], models: string[] = []): string {
  const opt = (n: string) => `<option value="${esc(n)}">${esc(n)}</option>`;
  const options = saes.map(opt).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>browser demo · aelab</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/static/dashboard.css"></head>
<body><header><a href="/" class="brand">aelab</a> <span>SAE encoding in the browser</span></header><main id="demo">
<p class="hint">The SAE's weights are fetched once; encoding runs in this page (aelab's pure-TypeScript backend, WebAssembly SIMD GEMM where available), not on the server.</p>
${saes.length ? `<p><label>SAE <select id="sae">${options}</select></label> <button id="load">Load</button> <span id="info"></span></p>
<p><label>Activations: JSON rows <code>[[…], …]</code>, or leave empty for random rows</label><br><textarea id="rows" rows="4" cols="100"></textarea><br>
<label>or a float32 .npy [N, d_in] <input type="file" id="npy" accept=".npy"></label>
<label>random rows <input id="nrand" type="number" value="64" min="1" max="65536" style="width:6em"></label> <button id="encode" disabled>Encode</button> <button id="bench" disabled>Speed</button></p>
<p id="timing"></p><table id="out"></table>` : '<p>No SAEs in the served folders: save one (e.g. <code>aelab train</code>) and reload.</p>'}
<h2>Draw a digit</h2>
${models.length ? `<p class="hint">An autoencoder on 28×28 images (an MLP with 784 inputs, or a conv AE on 1×28×28, e.g. trained on MNIST) reconstructs what you draw, in this page.</p>
<p><label>Autoencoder <select id="ae">${models.map(opt).join('')}</select></label> <button id="aeload">Load</button> <span id="aeinfo"></span></p>
<p><canvas id="pad" width="280" height="280" style="border:1px solid #999;background:#000;touch-action:none;cursor:crosshair"></canvas>
<canvas id="recon" width="280" height="280" style="border:1px solid #999;background:#000"></canvas></p>
<p><button id="clear">Clear</button> <span id="aetiming"></span></p>` : '<p>No saved models in the served folders.</p>'}
</main><script>${DEMO_JS}</script></body></html>`;
}

/** The page script (plain ES2020; the bundle is loaded on demand so a token in the URL reaches it). */
export const DEMO_JS = String.raw`(function(){
'use strict';
var tok=new URLSearchParams(location.search).get('token');var q=tok?'?token='+encodeURIComponent(tok):'';
var $=function(id){return document.getElementById(id);};
var W=null,bundle=null;
function loadBundle(){if(bundle)return bundle;bundle=new Promise(function(ok,fail){var s=document.createElement('script');s.src='/static/aelab.js'+q;
  s.onload=function(){window.aelab?ok(window.aelab):fail(new Error('the bundle loaded but defined no aelab global'));};
  s.onerror=function(){fail(new Error('/static/aelab.js did not load: build it with npm run build:web'));};document.head.appendChild(s);});return bundle;}
function enc(name){return name.split('/').map(encodeURIComponent).join('/');}
async function load(name){var a=await loadBundle();var r=await fetch('/api/models/'+enc(name)+'/weights'+q);
  if(!r.ok)throw new Error('weights: '+r.status+' '+(await r.text()));W=a.saeFromSafetensors(new Uint8Array(await r.arrayBuffer()));
  var info={name:name,arch:W.arch,dIn:W.dIn,dSae:W.dSae,k:W.k===undefined?null:W.k,backend:a.backend().name,gemm:a.gemmKind()};
  if($('info'))$('info').textContent=W.arch+' d_in '+W.dIn+' d_sae '+W.dSae+(W.k?' k '+W.k:'')+' · backend '+info.backend+' ('+info.gemm+')';
  ['encode','bench'].forEach(function(b){if($(b))$(b).disabled=false;});return info;}
function toF32(rows){if(rows instanceof Float32Array)return rows;var d=W.dIn,x=new Float32Array(rows.length*d);
  rows.forEach(function(r,i){if(r.length!==d)throw new Error('row '+i+' has '+r.length+' values, d_in is '+d);x.set(r,i*d);});return x;}
function random(n,seed){var a=window.aelab,g=new a.Generator(seed||1);return g.normal(new Float32Array(n*W.dIn));}
function encode(x){if(!W)throw new Error('load an SAE first');x=toF32(x);var t0=performance.now();var c=window.aelab.encodeRows(W,x);return {codes:c,ms:performance.now()-t0,rows:x.length/W.dIn};}
function bench(n,reps){var x=random(n,7);encode(x);var best=Infinity,total=0;for(var i=0;i<reps;i++){var r=encode(x);best=Math.min(best,r.ms);total+=r.ms;}
  return {rows:n,reps:reps,best_ms:best,rows_per_s:n/(best/1000),mean_rows_per_s:n*reps/(total/1000)};}
function parseNpy(buf){var b=new Uint8Array(buf),dv=new DataView(buf);if(b[0]!==0x93||String.fromCharCode.apply(null,b.subarray(1,6))!=='NUMPY')throw new Error('not a .npy file');
  var major=b[6],hl=major===1?dv.getUint16(8,true):dv.getUint32(8,true),ho=major===1?10:12,h=new TextDecoder().decode(b.subarray(ho,ho+hl));
  if(!/'descr':\s*'<f4'/.test(h)||/'fortran_order':\s*True/.test(h))throw new Error('only little-endian float32 C-order .npy files are read');
  return new Float32Array(buf.slice(ho+hl));}
function show(r){var a=window.aelab,top=a.topLatents(r.codes,W.dSae,8),t=$('out');
  $('timing').textContent=r.rows+' rows in '+r.ms.toFixed(1)+' ms ('+Math.round(r.rows/(r.ms/1000))+' rows/s); strongest latents of the first rows:';
  t.innerHTML='<tr><th>row</th><th>active</th><th>top latents (id: value)</th></tr>'+top.slice(0,32).map(function(row,i){var act=0;for(var h=0;h<W.dSae;h++)if(r.codes[i*W.dSae+h]!==0)act++;
    return '<tr><td>'+i+'</td><td>'+act+'</td><td>'+row.map(function(p){return p[0]+': '+p[1].toFixed(3);}).join(', ')+'</td></tr>';}).join('');}
async function onEncode(){try{var f=$('npy').files[0],txt=$('rows').value.trim(),x;
  if(f)x=parseNpy(await f.arrayBuffer());else if(txt)x=toF32(JSON.parse(txt));else x=random(Math.max(1,+$('nrand').value|0),1);
  if(x.length%W.dIn)throw new Error(x.length+' values are not rows of d_in '+W.dIn);show(encode(x));}catch(e){$('timing').textContent='error: '+e.message;}}
var M=null;
async function loadModel(name){var a=await loadBundle();var r=await fetch('/api/models/'+enc(name)+'/weights'+q);
  if(!r.ok)throw new Error('weights: '+r.status+' '+(await r.text()));M=a.autoencoderFromSafetensors(new Uint8Array(await r.arrayBuffer()));
  var s=M.sampleShape,n=s.reduce(function(p,d){return p*d;},1);if(n!==784)throw new Error('this autoencoder takes '+s.join('×')+' inputs, not 28×28 images');
  var info={name:name,sampleShape:s,codeDim:M.codeDim,backend:a.backend().name};if($('aeinfo'))$('aeinfo').textContent=M.config.arch+' AE, code '+M.codeDim+' · draw below';return info;}
function reconstruct(x){if(!M)throw new Error('load an autoencoder first');x=x instanceof Float32Array?x:Float32Array.from(x);var n=x.length/784;
  var t0=performance.now();var y=window.aelab.reconstructRows(M,x,[n].concat(M.sampleShape));return {y:y,ms:performance.now()-t0};}
function padInput(){var c=$('pad'),d=c.getContext('2d').getImageData(0,0,280,280).data,x=new Float32Array(784);
  for(var i=0;i<28;i++)for(var j=0;j<28;j++){var s=0;for(var u=0;u<10;u++)for(var v=0;v<10;v++)s+=d[((i*10+u)*280+j*10+v)*4];x[i*28+j]=s/(100*255);}return x;}
function showRecon(y){var o=document.createElement('canvas');o.width=28;o.height=28;var g=o.getContext('2d'),img=g.createImageData(28,28);
  for(var i=0;i<784;i++){var v=Math.max(0,Math.min(255,Math.round(y[i]*255)));img.data[i*4]=img.data[i*4+1]=img.data[i*4+2]=v;img.data[i*4+3]=255;}
  g.putImageData(img,0,0);var r=$('recon').getContext('2d');r.imageSmoothingEnabled=false;r.drawImage(o,0,0,280,280);}
function redraw(){if(!M)return;var r=reconstruct(padInput());showRecon(r.y);$('aetiming').textContent='reconstructed in '+r.ms.toFixed(1)+' ms';}
if($('pad')){var pad=$('pad'),ctx=pad.getContext('2d'),down=false,last=null;ctx.fillStyle='#000';ctx.fillRect(0,0,280,280);
  ctx.strokeStyle='#fff';ctx.lineWidth=22;ctx.lineCap='round';ctx.lineJoin='round';
  function pt(e){var b=pad.getBoundingClientRect();return [(e.clientX-b.left)*280/b.width,(e.clientY-b.top)*280/b.height];}
  pad.addEventListener('pointerdown',function(e){down=true;last=pt(e);ctx.beginPath();ctx.moveTo(last[0],last[1]);ctx.lineTo(last[0]+0.1,last[1]);ctx.stroke();});
  pad.addEventListener('pointermove',function(e){if(!down)return;var p=pt(e);ctx.beginPath();ctx.moveTo(last[0],last[1]);ctx.lineTo(p[0],p[1]);ctx.stroke();last=p;});
  window.addEventListener('pointerup',function(){if(down){down=false;redraw();}});
  $('clear').onclick=function(){ctx.fillStyle='#000';ctx.fillRect(0,0,280,280);redraw();};
  $('aeload').onclick=function(){$('aeinfo').textContent='loading…';loadModel($('ae').value).then(redraw).catch(function(e){$('aeinfo').textContent='error: '+e.message;});};}
window.aelabDemo={load:load,loadModel:loadModel,reconstruct:function(x){var r=reconstruct(x);return {ms:r.ms,y:Array.from(r.y)};},padInput:function(){return Array.from(padInput());},encode:function(rows){var r=encode(rows);return {rows:r.rows,ms:r.ms,codes:Array.from(r.codes)};},bench:bench,weights:function(){return W;}};
if($('load')){$('load').onclick=function(){$('info').textContent='loading…';load($('sae').value).catch(function(e){$('info').textContent='error: '+e.message;});};
  $('encode').onclick=onEncode;$('bench').onclick=function(){var r=bench(Math.max(1,+$('nrand').value|0),5);$('timing').textContent='encode: '+Math.round(r.rows_per_s)+' rows/s (best of '+r.reps+' runs of '+r.rows+' rows)';};}
})();`;
