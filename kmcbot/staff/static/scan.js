// The scan page: the camera's frames to jsQR (static/jsQR.js); the first check-in
// QR found is posted to the check-in form. Nothing leaves the page but that text.
(() => {
  const video = document.getElementById("camera");
  const status = document.getElementById("scan-status");
  const form = document.getElementById("qr-form");
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let done = false;

  function look() {
    if (done) return;
    if (video.readyState === video.HAVE_ENOUGH_DATA && video.videoWidth) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      const frame = context.getImageData(0, 0, canvas.width, canvas.height);
      const found = jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "dontInvert" });
      if (found && found.data.startsWith("KMCQR1:")) {
        done = true;
        form.elements.payload.value = found.data;
        status.textContent = status.dataset.found;
        form.submit();
        return;
      }
    }
    requestAnimationFrame(look);
  }

  navigator.mediaDevices
    .getUserMedia({ video: { facingMode: "environment" }, audio: false })
    .then((stream) => {
      video.srcObject = stream;
      return video.play();
    })
    .then(() => requestAnimationFrame(look))
    .catch(() => { status.textContent = status.dataset.noCamera; });
})();
