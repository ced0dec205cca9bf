// Bookings: the caller's bookings, newest first; a booking not yet cancelled can be cancelled
// with a reason. The API's ADR-023 errors are shown in words beside the booking.
import { api, explained } from "../api.js";
import { errorMessage, h, heading, when } from "../dom.js";

const REASONS = [["change_of_plans", "Change of plans"], ["double_booking", "Double booking"],
  ["found_alternative", "Found an alternative"], ["no_longer_needed", "No longer needed"], ["other", "Other"]];
const LEADS = {
  INVALID_STATUS: "This booking cannot be cancelled in its current state",
  FORBIDDEN: "Cancelling is not allowed here",
  FEATURE_DISABLED: "Cancellation is switched off for your account",
  NOT_FOUND: "This booking no longer exists",
  CONFLICT: "Someone changed this booking at the same moment; reload and try again",
  RATE_LIMITED: "Too many requests; wait a moment and try again",
};

function cancelForm(booking, onCancelled) {
  const id = booking.booking_id;
  const reason = h("select", { id: `reason-${id}` }, REASONS.map(([v, t]) => h("option", { value: v }, t)));
  const notes = h("input", { id: `notes-${id}`, maxlength: "500" });
  const outcome = h("div");
  const form = h("form", { onsubmit: async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true; // one cancellation per click, however impatient
    try {
      const done = await api(`/v1/bookings/${id}/cancel`, { method: "POST", body: { reason: reason.value, notes: notes.value || null } });
      onCancelled(done);
    } catch (error) {
      outcome.replaceChildren(h("p", { class: "message error", role: "alert" }, explained(error, LEADS)));
      button.disabled = false;
    }
  } },
  h("div", { class: "toolbar" },
    h("div", {}, h("label", { for: `reason-${id}` }, "Reason"), reason),
    h("div", {}, h("label", { for: `notes-${id}` }, "Notes (optional)"), notes),
    h("div", {}, h("button", { type: "submit", "aria-label": `Cancel booking ${booking.confirmation_code}` }, "Cancel booking"))),
  outcome);
  return form;
}

function card(b) {
  const status = h("dd", {}, b.status);
  const item = h("li", { class: "card" },
    h("h2", {}, `Booking ${b.confirmation_code}`),
    h("dl", { class: "pairs" }, [["Resource", b.resource_id], ["From", when(b.starts_at)], ["To", when(b.ends_at)]]
      .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]), h("dt", {}, "Status"), status),
    b.status === "cancelled" ? h("p", {}, `Cancelled ${when(b.cancelled_at)} (${b.cancellation_reason}).`) : null);
  if (b.status !== "cancelled") {
    const form = cancelForm(b, (done) => { // this card only: the rest of the list and the focus stay
      status.textContent = done.status;
      const confirmation = h("p", { class: "message", role: "status", tabindex: "-1" },
        `Cancelled ${when(done.cancelled_at)} (${done.cancellation_reason}).`);
      form.replaceWith(confirmation);
      confirmation.focus();
    });
    item.append(form);
  }
  return item;
}

export function bookingsView(main, _params, signal) {
  const list = h("div");
  main.append(heading("Bookings"), list);
  api("/v1/bookings", { signal })
    .then((bookings) => list.replaceChildren(bookings.length ? h("ul", { class: "bookings" }, bookings.map(card))
      : h("p", {}, "You have no bookings.")))
    .catch((error) => { if (!signal.aborted) list.replaceChildren(errorMessage(error)); });
}
