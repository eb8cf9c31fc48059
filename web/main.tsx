/// <reference lib="dom" />
/**
 * Entry point of the page bundle: connects and renders. Built by `scripts/build_web.ts`.
 * @module
 */

import { render } from "preact";
import { App } from "./app.tsx";
import { start } from "./chat.ts";

start();
render(<App />, document.getElementById("app")!);
