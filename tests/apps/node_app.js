// A non-Python event loop (Node's libuv, epoll): /sleep?ms=N blocks the loop thread in a futex
// wait (Atomics.wait), /cpu?ms=N burns CPU in JavaScript, /fast answers at once. Logs each stall's true times to $STALL_LOG like
// stallkit.py. Usage: node node_app.js PORT
'use strict';
const fs = require('fs');
const http = require('http');

const port = Number(process.argv[2]);
const cell = new Int32Array(new SharedArrayBuffer(4));

function logStall(kind, ms, start, end) {
  if (!process.env.STALL_LOG) return;
  fs.appendFileSync(process.env.STALL_LOG, JSON.stringify({
    app: 'node', kind, pid: process.pid, tid: process.pid,
    start_unix_ns: Number(start), end_unix_ns: Number(end), ms,
  }) + '\n');
}

// A CPU-bound stall in JIT-compiled JavaScript: run with --perf-basic-prof and the agent names it
// from /tmp/perf-PID.map.
function burnCpu(ms) {
  const deadline = Date.now() + ms;
  let n = 0;
  while (Date.now() < deadline) n += Math.sqrt(n + 1);
  return n;
}

http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/sleep') {
    const ms = Number(url.searchParams.get('ms') || '300');
    const start = BigInt(Date.now()) * 1000000n;
    Atomics.wait(cell, 0, 0, ms);  // blocks this (the loop's) thread
    logStall('sleep', ms, start, BigInt(Date.now()) * 1000000n);
    res.end('slept\n');
  } else if (url.pathname === '/cpu') {
    const ms = Number(url.searchParams.get('ms') || '300');
    const start = BigInt(Date.now()) * 1000000n;
    burnCpu(ms);
    logStall('cpu', ms, start, BigInt(Date.now()) * 1000000n);
    res.end('spun\n');
  } else {
    res.end('fast\n');
  }
}).listen(port, '127.0.0.1');
