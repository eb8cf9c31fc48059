/**
 * A `deno lint` plugin with hubbub's own rule: no function in `src/` is longer than 80 lines, so a newcomer can
 * read any one of them on a screen (issue 16). Tests and generated modules are exempt.
 * @module
 */

/** Longest function allowed, in lines, signature to closing brace. */
const MAX_LINES = 80;

/** The plugin: `hubbub/max-function-lines`. */
const plugin: Deno.lint.Plugin = {
  name: "hubbub",
  rules: {
    "max-function-lines": {
      create(context) {
        const applies = /\/src\//.test(context.filename) && !context.filename.endsWith(".gen.ts");
        const text = context.sourceCode.text;
        const check = (node: Deno.lint.Node & { range: Deno.lint.Range }) => {
          if (!applies) return;
          const [start, end] = node.range;
          const lines = text.slice(start, end).split("\n").length;
          if (lines > MAX_LINES) {
            context.report({ node, message: `Function of ${lines} lines: split it (at most ${MAX_LINES}).` });
          }
        };
        return {
          FunctionDeclaration: check,
          FunctionExpression: check,
          ArrowFunctionExpression: check,
        };
      },
    },
  },
};

export default plugin;
