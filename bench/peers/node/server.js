// Socket.IO on Node: what most teams run. Every client joins room "r"; an "msg" event is emitted
// to the room, the sender included. Started by bench/compare.py as `node server.js HOST PORT`.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const [host, port] = [process.argv[2] || "127.0.0.1", Number(process.argv[3] || 8083)];
const httpServer = http.createServer((req, res) => {
  if (req.url === "/readyz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"ok"}');
  } else {
    res.writeHead(404);
    res.end();
  }
});
const io = new Server(httpServer, { transports: ["websocket"], maxHttpBufferSize: 64 * 1024 });
io.on("connection", (socket) => {
  socket.join("r");
  socket.on("msg", (data) => io.to("r").emit("msg", data));
});
httpServer.listen(port, host);
process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
