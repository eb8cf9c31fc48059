/**
 * The few icons the page draws, as inline SVG (no icon font, no request).
 * @module
 */

import type { JSX } from "preact";

function Icon({ children }: { readonly children: JSX.Element | JSX.Element[] }): JSX.Element {
  return (
    <svg
      class="icon"
      viewBox="0 0 24 24"
      width="20"
      height="20"
      aria-hidden="true"
      focusable="false"
      fill="none"
      stroke="currentColor"
      stroke-width="2"
      stroke-linecap="round"
      stroke-linejoin="round"
    >
      {children}
    </svg>
  );
}

/** Three lines: opens the rooms panel. */
export function MenuIcon(): JSX.Element {
  return (
    <Icon>
      <path d="M4 6h16M4 12h16M4 18h16" />
    </Icon>
  );
}

/** Two heads: opens the members panel. */
export function PeopleIcon(): JSX.Element {
  return (
    <Icon>
      <circle cx="9" cy="8" r="3.5" />
      <path d="M2.5 20a6.5 6.5 0 0 1 13 0M16 4.5a3.5 3.5 0 0 1 0 7M18.5 14.5A6.5 6.5 0 0 1 21.5 20" />
    </Icon>
  );
}

/** A paper plane: send. */
export function SendIcon(): JSX.Element {
  return (
    <Icon>
      <path d="M21 3 10 14M21 3l-7 18-4-7-7-4 18-7Z" />
    </Icon>
  );
}

/** A cross: leave, close, dismiss. */
export function CloseIcon(): JSX.Element {
  return (
    <Icon>
      <path d="M6 6l12 12M18 6 6 18" />
    </Icon>
  );
}
