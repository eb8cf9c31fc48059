/**
 * Message text, rendered as text. Only `http:`/`https:` links become anchors, opened without referrer or
 * opener; nothing is ever parsed as HTML.
 * @module
 */

import type { JSX } from "preact";
import { linkify } from "../timeline.ts";

/** Renders `text` with safe links. */
export function RichText({ text }: { readonly text: string }): JSX.Element {
  return (
    <>
      {linkify(text).map((segment, i) =>
        segment.href === undefined
          ? segment.text
          : (
            <a key={i} href={segment.href} target="_blank" rel="noopener noreferrer nofollow">
              {segment.text}
            </a>
          )
      )}
    </>
  );
}
