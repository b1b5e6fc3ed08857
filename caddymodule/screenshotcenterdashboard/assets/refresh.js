// Reloads the page every 5 seconds while the "refresh" box is ticked
// (remembered in this browser). The pages work without it.
(function () {
  var box = document.getElementById("autorefresh");
  if (!box) return;
  document.getElementById("refresh").hidden = false;
  var key = "scgate-dashboard-refresh";
  box.checked = localStorage.getItem(key) === "1";
  var timer;
  function arm() {
    clearTimeout(timer);
    if (box.checked) timer = setTimeout(function () { location.reload(); }, 5000);
  }
  box.addEventListener("change", function () {
    localStorage.setItem(key, box.checked ? "1" : "0");
    arm();
  });
  arm();
})();
