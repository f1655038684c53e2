// Mocha runs the compiled tests (npm run build first; `npm test` does both).
// Tests tagged @slow or @gpu in their title are skipped unless SPARSECELL_SLOW=1 / SPARSECELL_GPU=1.
// MOCHA_SPEC=a.js,b.js picks files; MOCHA_GREP=text picks tests by title.
const skip = [];
if (process.env.SPARSECELL_SLOW !== '1') skip.push('@slow');
if (process.env.SPARSECELL_GPU !== '1') skip.push('@gpu');
module.exports = {
  spec: process.env.MOCHA_SPEC ? process.env.MOCHA_SPEC.split(',') : ['dist/test/**/*.test.js'],
  timeout: 60000,
  exit: true,
  ...(process.env.MOCHA_GREP ? { grep: process.env.MOCHA_GREP } : skip.length ? { grep: skip.join('|'), invert: true } : {}),
};
