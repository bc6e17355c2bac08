// The only script of the console: a row's "Check in" fills the reference above
// and puts the cursor on the code (the citizen reads their 4 digits out).
document.addEventListener("click", (event) => {
  const link = event.target.closest("[data-checkin]");
  if (!link) return;
  event.preventDefault();
  const form = document.getElementById("checkin");
  form.querySelector("[name=reference]").value = link.dataset.checkin;
  form.scrollIntoView({ behavior: "smooth", block: "start" });
  form.querySelector("[name=code]").focus();
});
