// Tollgate console: checks a receipt in the browser, trusting nothing the server says about it.
// The signature: Ed25519 (WebCrypto) over the RFC 8785 form of the receipt without its
// `signature`, with the key the receipt names from the server's published keys (whose id must be
// the one its bytes give). The inclusion: one certified log's entry hashes to its leaf, and the
// proof leads from that leaf to the receipt's own Merkle root (RFC 6962, SHA-256), the root
// being taken from the signed receipt, never from the proof. The lines read as
// `tollgate receipts prove` prints them.
"use strict";
(() => {
  const encoder = new TextEncoder();

  // RFC 8785. Strings and numbers are written by JSON.stringify, which is exactly what the
  // RFC prescribes for them (ECMAScript's number form); members are sorted by UTF-16 code
  // units, which is how Array.prototype.sort compares strings.
  function canonicalize(value) {
    if (value === null || typeof value === "boolean" || typeof value === "string") {
      return JSON.stringify(value);
    }
    if (typeof value === "number") {
      // An integer beyond 2^53 was already rounded by JSON.parse; the server never signs one,
      // so such a document fails the signature rather than being refused here.
      if (!Number.isFinite(value)) throw new Error("a number that is not finite has no RFC 8785 form");
      return JSON.stringify(value);
    }
    if (Array.isArray(value)) return "[" + value.map(canonicalize).join(",") + "]";
    if (typeof value === "object") {
      const keys = Object.keys(value).sort();
      return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalize(value[k])).join(",") + "}";
    }
    throw new Error(`a ${typeof value} has no JSON form`);
  }

  function fromBase64(text, url) {
    let t = url ? text.replace(/-/g, "+").replace(/_/g, "/") : text;
    while (t.length % 4) t += "=";
    const binary = atob(t);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  function toBase64(bytes) {
    return btoa(String.fromCharCode(...bytes));
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function same(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  async function sha256(subtle, ...parts) {
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return new Uint8Array(await subtle.digest("SHA-256", all));
  }

  const leafHash = (subtle, entry) => sha256(subtle, Uint8Array.of(0), entry);
  const nodeHash = (subtle, left, right) => sha256(subtle, Uint8Array.of(1), left, right);

  // RFC 9162 section 2.1.3.2, as merkle.rs verify_inclusion; numbers stay exact below 2^53.
  async function inclusionLeadsTo(subtle, leaf, index, size, proof, root) {
    if (!(index >= 0 && index < size)) return "the leaf's index is outside the tree";
    let f = index;
    let s = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (s === 0) return "the proof has more hashes than the tree has levels";
      if (f % 2 === 1 || f === s) {
        r = await nodeHash(subtle, p, r);
        while (f % 2 === 0 && f !== 0) {
          f = Math.floor(f / 2);
          s = Math.floor(s / 2);
        }
      } else {
        r = await nodeHash(subtle, r, p);
      }
      f = Math.floor(f / 2);
      s = Math.floor(s / 2);
    }
    if (s !== 0) return "the proof has fewer hashes than the tree has levels";
    if (!same(r, root)) return "the proof does not lead to the receipt's root";
    return null;
  }

  const pass = (name, detail) => ({ name, ok: true, detail });
  const fail = (name, detail) => ({ name, ok: false, detail });

  // The signature check: one line, as the CLI's.
  async function checkSignature(subtle, doc, published) {
    const source = "published by this server";
    const named = doc.key_id;
    const listed = (published.keys || []).find((k) => k.key_id === named);
    if (!listed) return fail("signature", `this server publishes no key ${named}`);
    const raw = fromBase64(listed.public_key, true);
    const id = "key_" + hex((await sha256(subtle, raw)).slice(0, 8));
    if (id !== named) {
      return fail("signature", `this server lists a key as ${named} but its bytes give ${id}`);
    }
    const text = doc.signature;
    if (typeof text !== "string") {
      return fail("signature", 'the document has no "signature" member; it is unsigned');
    }
    if (!text.startsWith("ed25519:")) {
      return fail("signature", `the signature must start with "ed25519:"; found ${JSON.stringify(text.slice(0, 16))}`);
    }
    const signature = fromBase64(text.slice("ed25519:".length), true);
    if (signature.length !== 64) {
      return fail("signature", `an Ed25519 signature is 64 bytes; this one is ${signature.length} bytes`);
    }
    const unsigned = Object.assign({}, doc);
    delete unsigned.signature;
    const message = encoder.encode(canonicalize(unsigned));
    const key = await subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    const ok = await subtle.verify({ name: "Ed25519" }, key, signature, message);
    return ok
      ? pass("signature", `Ed25519 signature by ${id} (${source})`)
      : fail(
          "signature",
          "the signature does not match: the document was changed after signing, or it was " +
            `signed by a different key (key ${id}, ${source})`,
        );
  }

  // The entry, leaf hash and inclusion lines of `tollgate receipts prove`.
  async function checkInclusion(subtle, doc, proof, logId) {
    const checks = [];
    let leaf;
    if (proof.entry == null) {
      leaf = fromBase64(proof.leaf_hash, false);
      checks.push(pass("entry", `log ${logId} is archived; its entry is in the archive file, under leaf hash ${proof.leaf_hash}`));
    } else {
      let named = null;
      try {
        named = JSON.parse(proof.entry).log_id || null;
      } catch (_) {
        named = null;
      }
      checks.push(
        named && named.toLowerCase() === logId.toLowerCase()
          ? pass("entry", `the canonical entry of log ${logId}`)
          : fail("entry", `the proof's entry is not log ${logId} (it names ${named})`),
      );
      leaf = await leafHash(subtle, encoder.encode(proof.entry));
      const ours = toBase64(leaf);
      checks.push(
        ours === proof.leaf_hash
          ? pass("leaf hash", ours)
          : fail("leaf hash", `the entry hashes to ${ours}; the proof says ${JSON.stringify(proof.leaf_hash)}`),
      );
    }
    const root = fromBase64(doc.certified.merkle_root, false);
    const size = doc.certified.count;
    const path = proof.proof.map((h) => fromBase64(h, false));
    const aside =
      proof.size !== size || proof.root !== doc.certified.merkle_root
        ? " (the proof response claims another tree; it was not used)"
        : "";
    const problem = await inclusionLeadsTo(subtle, leaf, proof.index, size, path, root);
    checks.push(
      problem === null
        ? pass("inclusion", `leaf ${proof.index} of ${size}, ${path.length} hashes, leads to the receipt's root${aside}`)
        : fail("inclusion", `leaf ${proof.index} of ${size} against the receipt's root: ${problem}${aside}`),
    );
    return checks;
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
    // An ended session is sent to the sign-in page, which is not JSON.
    if (!(response.headers.get("content-type") || "").includes("json")) {
      throw new Error(`${url} did not answer JSON; the session may have ended, so sign in again`);
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = body && body.error ? body.error.message : `${response.status}`;
      throw new Error(`${url} answered ${message}`);
    }
    return body;
  }

  // Every check of the receipt `id`, proving `logId` (if any); `subtle` is WebCrypto's.
  async function verifyReceipt(id, logId, subtle) {
    const base = `/ui/receipts/${encodeURIComponent(id)}`;
    const doc = await getJson(`${base}.json`);
    const published = await getJson("/receipts/public-keys.json");
    const checks = [await checkSignature(subtle, doc, published)];
    if (doc.receipt_id !== id) checks.push(fail("receipt", `asked for ${id} but got ${doc.receipt_id}`));
    if (logId) {
      const proof = await getJson(`${base}/proof?log_id=${encodeURIComponent(logId)}`);
      checks.push(...(await checkInclusion(subtle, doc, proof, logId)));
    }
    return checks;
  }

  // The server's own verdict, for a browser that cannot check: labelled as the server's.
  async function serverCheck(id) {
    const v = await getJson(`/ui/receipts/${encodeURIComponent(id)}/server-check`);
    const label = "(the server's check, not this browser's)";
    const checks = [
      v.signature_valid
        ? pass("signature", `Ed25519 signature by ${v.key_id} ${label}`)
        : fail("signature", `${v.reason || "does not match"} ${label}`),
    ];
    if (v.commitment_valid !== null && v.commitment_valid !== undefined) {
      checks.push(
        v.commitment_valid
          ? pass("commitment", `the certified set matches the stored logs ${label}`)
          : fail("commitment", `${v.reason || "does not match the stored logs"} ${label}`),
      );
    }
    return checks;
  }

  function show(list, checks) {
    list.replaceChildren();
    for (const c of checks) {
      const li = document.createElement("li");
      li.className = c.ok ? "pass" : "fail";
      li.dataset.check = c.name;
      li.textContent = `${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`;
      list.append(li);
    }
    const failed = checks.filter((c) => !c.ok).length;
    const li = document.createElement("li");
    li.className = failed ? "summary fail" : "summary pass";
    li.id = "verify-verdict";
    li.textContent = failed
      ? `INVALID: ${failed} of ${checks.length} checks failed`
      : `VALID: all ${checks.length} checks passed`;
    list.append(li);
  }

  function unavailable(error) {
    return error && (error.name === "NotSupportedError" || /Ed25519|algorithm/i.test(String(error.message)));
  }

  // Runs the check for the section `box`; with `subtle` null it shows why the browser cannot
  // check and the server's check instead.
  async function run(box, subtle) {
    const list = box.querySelector("#verify-result");
    const note = box.querySelector("#verify-note");
    const button = box.querySelector("#verify-button");
    const id = box.dataset.receipt;
    button.disabled = true;
    note.hidden = true;
    list.replaceChildren();
    const fallback = async (why) => {
      note.textContent = `${why} What follows is the server's own check of its stored receipt, which you are trusting rather than checking.`;
      note.hidden = false;
      show(list, await serverCheck(id));
    };
    try {
      if (!subtle) {
        await fallback(
          "This browser offers no WebCrypto here (the console is not served over HTTPS or from localhost), so it cannot check the receipt itself.",
        );
      } else {
        show(list, await verifyReceipt(id, box.dataset.log, subtle));
      }
    } catch (error) {
      if (subtle && unavailable(error)) {
        await fallback("This browser cannot check Ed25519 signatures.").catch((e) => show(list, [fail("check", e.message)]));
      } else {
        show(list, [fail("check", `could not be made: ${error.message}`)]);
      }
    } finally {
      button.disabled = false;
    }
  }

  window.tollgateVerify = { canonicalize, checkSignature, checkInclusion, verifyReceipt, serverCheck, run };

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("verify");
    if (!box) return;
    box.querySelector("#verify-button").addEventListener("click", () => {
      const subtle = window.isSecureContext && window.crypto && window.crypto.subtle ? window.crypto.subtle : null;
      run(box, subtle);
    });
  });
})();
