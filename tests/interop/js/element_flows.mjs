// The flows Element Web makes through matrix-js-sdk (its client library) with the Rust crypto
// (wasm), run against one homeserver: registration probe and dummy-auth registration, password
// login, cross-signing bootstrap and reset with user-interactive auth, an encrypted DM read by the
// other side, and a displayname change seen by the other member.
//
// Usage: node element_flows.mjs <homeserver URL>
// Prints one JSON object on stdout: what each step saw (tests/interop/test_js_sdk.py asserts on it),
// or, on failure, the steps done so far and `error`. The SDK's own logging goes to stderr.

// The SDK logs through `console` (loglevel binds the console methods when the SDK is first
// imported), so send it all to stderr before importing it: stdout carries only the summary.
for (const method of ["log", "info", "debug", "trace", "warn"]) {
    console[method] = (...args) => console.error(...args);
}
const sdk = await import("matrix-js-sdk");

const baseUrl = process.argv[2];
if (!baseUrl) {
    console.error("usage: node element_flows.mjs <homeserver URL>");
    process.exit(2);
}

const STEP_TIMEOUT_MS = 60_000;
const OVERALL_TIMEOUT_MS = 120_000;
const PASSWORDS = { alice: "alice's long enough password", bob: "bob's long enough password" };
const summary = { steps: {} };
const clients = [];

/** Polls `condition` until it returns a truthy value, which it returns; fails after `timeoutMs`. */
async function waitFor(description, condition, timeoutMs = STEP_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await condition();
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
}

/** A `fetch` that remembers when the client last sent or received a `/keys/query`. */
function keyQueryTrackingFetch() {
    const tracker = { inFlight: 0, lastActivity: 0 };
    tracker.fetch = async (input, init) => {
        const isKeyQuery = String(input instanceof Request ? input.url : input).includes("/keys/query");
        if (!isKeyQuery) return fetch(input, init);
        tracker.inFlight += 1;
        tracker.lastActivity = Date.now();
        try {
            return await fetch(input, init);
        } finally {
            tracker.inFlight -= 1;
            tracker.lastActivity = Date.now();
        }
    };
    return tracker;
}

/** A logged-in client with the Rust crypto in memory, synced once, as Element runs it. */
async function startSyncingClient({ user_id, access_token, device_id }) {
    const keyQueries = keyQueryTrackingFetch();
    const client = sdk.createClient({
        baseUrl,
        userId: user_id,
        accessToken: access_token,
        deviceId: device_id,
        fetchFn: keyQueries.fetch,
    });
    client.keyQueries = keyQueries;
    clients.push(client);
    await client.initRustCrypto({ useIndexedDB: false });
    const prepared = new Promise((resolve, reject) => {
        client.on(sdk.ClientEvent.Sync, (state, _previous, data) => {
            if (state === "PREPARED") resolve();
            if (state === "ERROR") reject(data?.error ?? new Error("sync failed"));
        });
    });
    await client.startClient({ initialSyncLimit: 20 });
    await prepared;
    return client;
}

/** Step 1: Element's registration form. It first posts only the device name, expecting the
 *  user-interactive auth flows, then completes `m.login.dummy` with the chosen credentials. */
async function register(name) {
    const client = sdk.createClient({ baseUrl });
    const deviceName = `Element Web (${name})`;
    let probe;
    try {
        await client.registerRequest({ initial_device_display_name: deviceName });
        throw new Error("POST /register with only initial_device_display_name succeeded: expected 401 with flows");
    } catch (error) {
        if (!(error instanceof sdk.MatrixError)) throw error;
        probe = { httpStatus: error.httpStatus, errcode: error.errcode ?? null, data: error.data };
    }
    if (probe.httpStatus !== 401 || !Array.isArray(probe.data?.flows) || !probe.data?.session) {
        throw new Error(`registration probe answered ${JSON.stringify(probe)}: expected 401 with flows and session`);
    }
    const registered = await client.registerRequest({
        username: name,
        password: PASSWORDS[name],
        initial_device_display_name: deviceName,
        auth: { type: "m.login.dummy", session: probe.data.session },
    });
    return {
        probe: {
            http_status: probe.httpStatus,
            flows: probe.data.flows.map((flow) => flow.stages),
            has_session: Boolean(probe.data.session),
        },
        registered,
    };
}

/** Step 2: a fresh client logs in with the password (Element's login form) and asks who it is. */
async function passwordLogin(name) {
    const anonymous = sdk.createClient({ baseUrl });
    const flows = await anonymous.loginFlows();
    const login = await anonymous.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: name },
        password: PASSWORDS[name],
        initial_device_display_name: `Element Web login (${name})`,
    });
    const probe = sdk.createClient({ baseUrl, userId: login.user_id, accessToken: login.access_token });
    const whoami = await probe.whoami();
    return {
        login,
        summary: {
            login_flow_types: flows.flows.map((flow) => flow.type),
            user_id: login.user_id,
            device_id: login.device_id,
            whoami_user_id: whoami.user_id,
            whoami_device_id: whoami.device_id ?? null,
        },
    };
}

/** The UIA callback Element's "set up / reset cross-signing" runs: try without auth (servers may
 *  let a first upload through), and on 401 answer the password stage with the given session. */
function passwordUia(userId, password, record) {
    return async (makeRequest) => {
        try {
            await makeRequest(null);
            record.push({ asked_for_auth: false });
            return;
        } catch (error) {
            if (!(error instanceof sdk.MatrixError) || error.httpStatus !== 401 || !error.data?.flows) throw error;
            record.push({
                asked_for_auth: true,
                flows: error.data.flows.map((flow) => flow.stages),
                has_session: Boolean(error.data.session),
            });
            await makeRequest({
                type: "m.login.password",
                identifier: { type: "m.id.user", user: userId },
                password,
                session: error.data.session,
            });
        }
    };
}

/** Step 3: cross-signing with the Rust crypto, first set-up then a reset (which must ask for the
 *  password), and what the crypto and another user then see. */
async function crossSigning(alice, bob) {
    const aliceId = alice.getUserId();
    const crypto = alice.getCrypto();
    const uploads = [];
    await crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(aliceId, PASSWORDS.alice, uploads) });
    const firstMasterKey = await crypto.getCrossSigningKeyId();
    await waitFor("cross-signing to be ready after set-up", () => crypto.isCrossSigningReady());
    // The uploads above make the server report Alice's keys as changed, and her client then
    // downloads them. Had that download still been running during the reset below, its answer
    // (the first keys) would make the Rust crypto drop the new private keys, a client-side race
    // a person clicking "reset" later never meets; so let the downloads finish first.
    await waitFor("Alice's client to finish downloading her keys", () =>
        alice.keyQueries.inFlight === 0 && Date.now() - alice.keyQueries.lastActivity > 1500);
    await crypto.bootstrapCrossSigning({
        setupNewCrossSigning: true,
        authUploadDeviceSigningKeys: passwordUia(aliceId, PASSWORDS.alice, uploads),
    });
    const status = await waitFor("cross-signing to be ready", async () => {
        const current = await crypto.getCrossSigningStatus();
        return current.publicKeysOnDevice && (await crypto.isCrossSigningReady()) ? current : null;
    });
    // The device's signature by the new self-signing key reaches the crypto through the next
    // download of Alice's keys, which the server's "keys changed" notice in /sync triggers.
    const deviceStatus = await waitFor("Alice's device to be cross-signed in her own client", async () => {
        const current = await crypto.getDeviceVerificationStatus(aliceId, alice.getDeviceId());
        return current?.crossSigningVerified ? current : null;
    });
    const masterKey = await crypto.getCrossSigningKeyId();
    // What another user's client downloads for Alice (POST /keys/query).
    const queried = await bob.http.authedRequest(sdk.Method.Post, "/keys/query", undefined, {
        device_keys: { [aliceId]: [] },
    });
    const aliceDevice = queried.device_keys?.[aliceId]?.[alice.getDeviceId()];
    const selfSigningKeyIds = Object.keys(queried.self_signing_keys?.[aliceId]?.keys ?? {});
    const versions = await alice.getVersions();
    return {
        uploads,
        ready: await crypto.isCrossSigningReady(),
        status,
        reset_changed_master_key: Boolean(firstMasterKey && masterKey && firstMasterKey !== masterKey),
        own_device_cross_signing_verified: Boolean(deviceStatus?.crossSigningVerified),
        queried_master_key: Object.values(queried.master_keys?.[aliceId]?.keys ?? {})[0] ?? null,
        local_master_key: masterKey,
        device_signed_by_self_signing_key: selfSigningKeyIds.some(
            (keyId) => aliceDevice?.signatures?.[aliceId]?.[keyId] !== undefined,
        ),
        versions_cross_signing: versions.unstable_features?.["org.matrix.e2e_cross_signing"] ?? null,
    };
}

/** Step 4: Element's "start DM" with encryption on; each side decrypts what the other sent. */
async function encryptedDirectMessage(alice, bob) {
    const aliceId = alice.getUserId();
    const bobId = bob.getUserId();
    const { room_id: roomId } = await alice.createRoom({
        is_direct: true,
        preset: sdk.Preset.TrustedPrivateChat,
        invite: [bobId],
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    await waitFor("Bob's client to see the invite", () => bob.getRoom(roomId)?.getMyMembership() === "invite");
    const invite = bob.getRoom(roomId).getMember(bobId)?.events.member?.getContent();
    await bob.joinRoom(roomId);
    await waitFor("Alice's client to see Bob join", () => alice.getRoom(roomId)?.getMember(bobId)?.membership === "join");
    await waitFor("both clients to know the room is encrypted", async () =>
        (await alice.getCrypto().isEncryptionEnabledInRoom(roomId)) &&
        (await bob.getCrypto().isEncryptionEnabledInRoom(roomId)));

    const fromAlice = await sendAndDecrypt(alice, bob, roomId, "Hello Bob, this is secret");
    const fromBob = await sendAndDecrypt(bob, alice, roomId, "Hi Alice, secret received");
    return { roomId, summary: { room_id: roomId, invite_is_direct: invite?.is_direct ?? null, from_alice: fromAlice, from_bob: fromBob } };
}

async function sendAndDecrypt(sender, receiver, roomId, body) {
    const { event_id: eventId } = await sender.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body });
    const event = await waitFor(`${receiver.getUserId()} to decrypt ${eventId}`, () => {
        const seen = receiver.getRoom(roomId)?.findEventById(eventId);
        return seen && !seen.isBeingDecrypted() && !seen.isDecryptionFailure() && seen.getClearContent() ? seen : null;
    });
    return {
        event_id: eventId,
        wire_type: event.getWireType(),
        algorithm: event.getWireContent().algorithm ?? null,
        decrypted_type: event.getType(),
        decrypted_body: event.getClearContent()?.body ?? null,
        sender: event.getSender(),
    };
}

/** Step 5: Alice renames herself in her settings; Bob's member list shows the new name. */
async function displaynameChange(alice, bob, roomId) {
    const aliceId = alice.getUserId();
    const newName = "Alice Liddell";
    await alice.setDisplayName(newName);
    const member = await waitFor("Bob's client to see Alice's new displayname", () => {
        const seen = bob.getRoom(roomId)?.getMember(aliceId);
        return seen?.rawDisplayName === newName ? seen : null;
    });
    const profile = await bob.getProfileInfo(aliceId);
    return {
        set_to: newName,
        member_name: member.name,
        member_raw_display_name: member.rawDisplayName,
        member_membership: member.membership,
        profile_displayname: profile.displayname ?? null,
    };
}

async function main() {
    const aliceRegistration = await register("alice");
    const bobRegistration = await register("bob");
    summary.steps.register = {
        probe: aliceRegistration.probe,
        alice_user_id: aliceRegistration.registered.user_id,
        bob_user_id: bobRegistration.registered.user_id,
        alice_has_access_token: Boolean(aliceRegistration.registered.access_token),
    };

    const aliceLogin = await passwordLogin("alice");
    summary.steps.login = aliceLogin.summary;

    const alice = await startSyncingClient(aliceLogin.login);
    const bob = await startSyncingClient(bobRegistration.registered);
    summary.steps.cross_signing = await crossSigning(alice, bob);

    const dm = await encryptedDirectMessage(alice, bob);
    summary.steps.encrypted_dm = dm.summary;

    summary.steps.displayname = await displaynameChange(alice, bob, dm.roomId);
}

/** Prints the summary once and ends: the sync loops are stopped, and if anything else still
 *  holds the event loop, Node is not left hanging. */
let finished = false;
function finish(exitCode) {
    if (finished) return;
    finished = true;
    clearTimeout(overallTimeout);
    for (const client of clients) client.stopClient();
    process.stdout.write(JSON.stringify(summary) + "\n");
    process.exitCode = exitCode;
    setTimeout(() => process.exit(exitCode), 5000).unref();
}

// The whole run takes about 10 s; whatever hangs, answer well within the test's 150 s.
const overallTimeout = setTimeout(() => {
    summary.error = `still running after ${OVERALL_TIMEOUT_MS} ms`;
    finish(1);
}, OVERALL_TIMEOUT_MS);

try {
    await main();
    finish(0);
} catch (error) {
    summary.error = error instanceof sdk.MatrixError
        ? `${error.message} (HTTP ${error.httpStatus}, ${error.url ?? "?"}: ${JSON.stringify(error.data)})`
        : String(error?.stack ?? error);
    finish(1);
}
