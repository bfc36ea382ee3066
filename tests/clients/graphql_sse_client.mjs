// One chat turn through the `graphql-sse` package (distinct connections mode: one
// text/event-stream response per operation). One JSON line per event.
import { createClient } from "graphql-sse";
import { CHAT, args } from "./subscription.mjs";

const { url, token, variables } = args();
const client = createClient({
  url,
  headers: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});

try {
  for await (const result of client.iterate({ query: CHAT, variables })) {
    if (result.errors) {
      console.log(JSON.stringify({ errors: result.errors }));
      break;
    }
    console.log(JSON.stringify(result.data.chat));
  }
} catch (error) {
  console.log(JSON.stringify({ errors: Array.isArray(error) ? error : [String(error)] }));
} finally {
  client.dispose();
}
