// The tenant's live alert feed as the fleet and alerts views follow it: a status line, a reload
// of what the view shows when the stream comes back afresh (alerts were missed while it was
// away), and each raised alert announced.
import { stream } from "../api.js";
import { announce } from "../dom.js";

export function followAlertFeed({ signal, status, reload, onAlert }) {
  let subscribed = false;
  stream("/v1/fleet/stream", {
    signal,
    onStatus: (s, detail) => { status.textContent = s === "live" ? "Live: new alerts appear as they are raised."
      : s === "refused" ? `The alert feed refused: ${detail}` : "Reconnecting to the live alert feed…"; },
    onEvent: ({ event, data }) => {
      if (event === "subscribed") {
        if (subscribed) reload();
        subscribed = true;
        return;
      }
      if (data.type !== "alert") return;
      const raised = data.event_type === "VehicleAlertRaised";
      onAlert(data, raised);
      if (raised) announce(`${data.severity} alert on ${data.vehicle_id}: ${data.message}`, data.severity === "critical");
    },
  });
}
