// PostGraphile v4 on the bench's database, one Node process, each request as its caller under
// row-level security the way reactor-chat runs one: the bearer token verified (HS256, the
// same secret), then `role` and `request.jwt.claims` set for the transaction only.
//   node server.js <database url> <port> <jwt secret>
"use strict";
const http = require("http");
const jwt = require("jsonwebtoken");
const { postgraphile } = require("postgraphile");

const [databaseUrl, port, secret] = process.argv.slice(2);
const REQUEST_ROLES = new Set(["anon", "authenticated"]);

function pgSettings(req) {
  const header = req.headers.authorization || "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : null;
  if (token === null) {
    return { role: "anon", "request.jwt.claims": "{}" };
  }
  // Throws on a bad token: PostGraphile answers it as an error, as we do.
  const claims = jwt.verify(token, secret, {
    algorithms: ["HS256"],
    audience: "authenticated",
    issuer: "reactor-chat",
  });
  const role = REQUEST_ROLES.has(claims.role) ? claims.role : "anon";
  return { role, "request.jwt.claims": JSON.stringify(claims) };
}

const middleware = postgraphile(databaseUrl, "public", {
  pgSettings,
  graphiql: false,
  disableQueryLog: true,
  watchPg: false,
  retryOnInitFail: false,
  setofFunctionsContainNulls: false,
  ignoreRBAC: false,
});

http.createServer(middleware).listen(Number(port), "127.0.0.1");
