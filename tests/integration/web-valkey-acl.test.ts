import { describe, expect, test } from "bun:test";
import { signToken } from "../support/tokens.ts";
import { requireValkey, startValkey } from "../support/valkey-server.ts";
import { waitFor } from "../support/wait-for.ts";
import { startWebUnderTest } from "../support/web-harness.ts";

describe.skipIf(!requireValkey())("the web as a least-privilege Valkey user", () => {
  test("a user allowed the admission script's commands but not PUBSUB or XLEN still publishes; the checks it may not run only warn", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    await admin.send("ACL", [
      "SETUSER",
      "webonly",
      "on",
      ">web-secret",
      "~kuberollouttrigger",
      "~{kuberollouttrigger}:*",
      "+evalsha",
      "+eval",
      "+script|load",
      "+time",
      "+get",
      "+set",
      "+incr",
      "+pexpire",
      "+pttl",
      "+xadd",
      "+xgroup|create",
      "+ping",
      "+hello",
      "+auth",
      "+client|setname",
      "+client|setinfo",
    ]);
    await using web = await startWebUnderTest({
      VALKEY_ADDR: valkey.addr,
      VALKEY_USERNAME: "webonly",
      VALKEY_PASSWORD: "web-secret",
    });
    await waitFor(async () => (await web.get("/readyz")).status === 200, "the web to be ready");
    expect((await web.postEvent()).status).toBe(202);
    expect(await admin.send("XLEN", ["kuberollouttrigger"])).toBe(1);
    expect(web.captured.withMsg("old Pub/Sub subscribers not checked")).not.toHaveLength(0);
    expect(web.captured.withMsg("valkey connection failed")).toEqual([]);
  });

  test("with the rights docs/deployment.md adds for GET /event/{event_id}, the web reads an event's status", async () => {
    await using valkey = await startValkey();
    const admin = await valkey.client();
    await admin.send("ACL", [
      "SETUSER",
      "webonly",
      "on",
      ">web-secret",
      "~kuberollouttrigger",
      "~{kuberollouttrigger}:*",
      ...["+evalsha", "+eval", "+script|load", "+time", "+get", "+set", "+incr", "+pexpire", "+pttl"],
      ...["+xadd", "+xgroup|create", "+ping", "+hello", "+auth", "+client|setname", "+client|setinfo"],
      ...["+hgetall", "+xrange", "+xpending", "+xinfo|groups"],
    ]);
    await using web = await startWebUnderTest({
      VALKEY_ADDR: valkey.addr,
      VALKEY_USERNAME: "webonly",
      VALKEY_PASSWORD: "web-secret",
    });
    await waitFor(async () => (await web.get("/readyz")).status === 200, "the web to be ready");
    const posted = await web.postEvent();
    const { event_id: eventId } = (await posted.json()) as { event_id: string };
    const token = await signToken(web.key);
    const queued = await fetch(`${web.baseUrl}/event/${eventId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(queued.status).toBe(200);
    // Delivered and acknowledged without a status: the script's XPENDING and XINFO GROUPS ran too.
    await admin.send("XREADGROUP", [
      "GROUP",
      "kuberollouttrigger",
      "w",
      "STREAMS",
      "kuberollouttrigger",
      ">",
    ]);
    await admin.send("XACK", ["kuberollouttrigger", "kuberollouttrigger", eventId]);
    const gone = await fetch(`${web.baseUrl}/event/${eventId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(gone.status).toBe(404);
    expect(web.captured.withMsg("event status not read")).toEqual([]);
  });
});
