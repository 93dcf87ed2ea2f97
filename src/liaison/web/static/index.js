// The sign-in page: signs in, then goes to the page asked for (?next=, only a page of this
// console) or the first page for the user's roles.
import {banner, say, signIn, takeNotice} from "./console.js";

banner("UNCLASSIFIED");
const notice = takeNotice();  // e.g. the session ended while on another page
if (notice) say(notice, true);
fetch("/api/health").then(r => r.json()).then(h => {
  document.getElementById("node").textContent = h.party;
}).catch(() => {});

// only a page of this console, never another site
function safeNext() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return /^[a-z][a-z0-9_-]*\.html(\?[^#\s]*)?$/.test(next) && !next.startsWith("index.html")
    ? next : null;
}

function firstPage(roles) {
  if (roles.includes("reviewer")) return "review.html";
  if (["analyst", "release_officer", "watch_officer", "admin"].some(r => roles.includes(r))) {
    return "items.html";
  }
  if (roles.includes("delegate")) return "talks-desk.html";
  return "agreements.html";
}

const form = document.getElementById("signin");
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  say("", true);
  say("Signing in…");
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const data = await signIn(document.getElementById("username").value.trim(),
                              document.getElementById("password").value);
    document.getElementById("password").value = "";
    say(`Signed in as ${data.user.username}.`);
    location.href = safeNext() || firstPage(data.user.roles || []);
  } catch (err) {
    say("");
    say(err.message, true);
    document.getElementById("password").focus();
  } finally {
    button.disabled = false;
  }
});
document.getElementById("username").focus();
