/**
 * A round initial in a colour picked from the name (by class: the page has no inline styles).
 * @module
 */

import type { JSX } from "preact";
import { hue, initial } from "../timeline.ts";

/** The avatar of `name`. */
export function Avatar({ name, small }: { readonly name: string; readonly small?: boolean }): JSX.Element {
  return (
    <span class={`avatar hue-${hue(name)}${small ? " avatar-small" : ""}`} aria-hidden="true">
      {initial(name)}
    </span>
  );
}
