// Start kinesalite through its node API so it binds 127.0.0.1 only (its CLI listens on
// every interface). Prints {"port": N} on stdout once listening.
// Usage: node kinesalite_server.js <host> <port> [leveldb-path]
const kinesalite = require('kinesalite');

const [host, port, path] = process.argv.slice(2);
const options = {createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 200};
if (path) {
  try {
    require('leveldown');
  } catch (err) {
    console.error(`kinesalite's LevelDB binding (leveldown) failed to load: ${err.message}`);
    process.exit(3);
  }
  options.path = path;
}
const server = kinesalite(options);
const fail = (err) => {
  console.error(`kinesalite could not listen on ${host}:${port}: ${err.message}`);
  process.exit(2);
};
server.on('error', fail);  // EADDRINUSE and friends arrive here, not in the callback
server.listen(Number(port), host, (err) => {
  if (err) fail(err);
  console.log(JSON.stringify({port: server.address().port}));
});
// close() alone waits for every keep-alive connection to go idle and time out (boto3 and
// the Spark source keep theirs open): drop the idle ones now and give requests in flight
// two seconds.
const stop = () => {
  server.close(() => process.exit(0));
  if (server.closeIdleConnections) server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// It runs in a session of its own, so nothing stops it if its parent dies without
// stopping it (SIGKILL, a crash): stop when re-parented.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) stop();
}, 500).unref();
// kinesalite throws from a request's 'error' handler when a client drops the connection
// mid-request (a Spark worker stopped while reading), which would end the process. A
// dropped client is routine for a server: note it and keep serving; anything else still
// ends the process.
process.on('uncaughtException', (err) => {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error(`kinesalite: a client dropped its connection mid-request (${err.message})`);
    return;
  }
  console.error(err);
  process.exit(1);
});
