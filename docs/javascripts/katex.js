// Render the formulas that pymdownx.arithmatex (generic mode) leaves as \( ... \) and \[ ... \],
// on first load and after every instant-navigation page change of mkdocs-material.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
      { left: "$", right: "$", display: false },
    ],
    throwOnError: false,
  });
});
