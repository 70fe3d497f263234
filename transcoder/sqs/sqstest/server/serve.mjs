// Runs fauxqs on 127.0.0.1 only (its own CLI listens on every interface) and prints
// "listening <url>" once it accepts requests.
import { buildApp } from "./node_modules/fauxqs/dist/app.js";

const app = buildApp({ logger: false });
const addr = await app.listen({ port: 0, host: "127.0.0.1" });
process.stdout.write("listening " + addr + "\n");
// Exit with the test process: it holds our standard input open.
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
