// Charts for the console: poll a JSON endpoint ({labels, data: [times, ...series]}) and draw it with uPlot.
function riverlogChart(elementId, url, opts) {
  const el = document.getElementById(elementId);
  if (!el) return;
  let plot = null, labels = null;
  const palette = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
  async function refresh() {
    if (!document.body.contains(el)) return;
    try {
      const answer = await (await fetch(url)).json();
      const key = JSON.stringify(answer.labels);
      if (plot === null || key !== labels) {
        if (plot) plot.destroy();
        labels = key;
        const series = [{}].concat(answer.labels.map((label, i) => ({
          label: label, stroke: palette[i % palette.length], width: 2, spanGaps: true,
        })));
        plot = new uPlot({
          width: Math.max(300, el.clientWidth - 16), height: (opts && opts.height) || 220,
          series: series, axes: [{}, {label: (opts && opts.unit) || ""}],
        }, answer.data, el);
      } else {
        plot.setData(answer.data);
      }
      const err = document.getElementById(elementId + "-error");
      if (err) err.textContent = answer.error || "";
    } catch (e) { /* the next poll tries again */ }
    setTimeout(refresh, (opts && opts.every) || 2000);
  }
  refresh();
}
