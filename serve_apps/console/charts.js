// uPlot (vendored, pinned: vendor/uPlot.iife.min.js) is loaded only when a view draws a chart, so
// the shell's first paint does not wait for it.
let loading = null;

export function loadChartLibrary() {
  loading ??= new Promise((resolve, reject) => {
    const link = Object.assign(document.createElement("link"), { rel: "stylesheet", href: "console/vendor/uPlot.min.css" });
    const script = Object.assign(document.createElement("script"), { src: "console/vendor/uPlot.iife.min.js" });
    script.onload = resolve;
    script.onerror = () => {
      loading = null; // the next view tries again
      reject(new Error("the chart library did not load"));
    };
    document.head.append(link, script);
  });
  return loading;
}

// A line chart in `container`, as wide as it, in the theme's chart colour. The canvas is hidden
// from assistive technology: the container's label and the card's table carry its content.
export function lineChart(container, label) {
  const colour = getComputedStyle(document.documentElement).getPropertyValue("--chart-line").trim();
  const text = getComputedStyle(document.documentElement).getPropertyValue("--text").trim();
  const axis = { stroke: text, grid: { stroke: "rgba(128,128,128,0.3)" } };
  const plot = new window.uPlot({
    width: Math.max(200, container.clientWidth), height: 140, legend: { show: false }, cursor: { show: false },
    series: [{}, { label, stroke: colour, width: 2 }], axes: [axis, { ...axis, size: 50 }],
  }, [[], []], container);
  plot.root.setAttribute("aria-hidden", "true");
  return plot;
}
