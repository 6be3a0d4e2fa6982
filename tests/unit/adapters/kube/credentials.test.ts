import { expect, test } from "bun:test";
import { staticCredentials, tokenFileCredentials } from "../../../../src/adapters/kube/credentials.ts";
import { KubeConfigError } from "../../../../src/adapters/kube/kube-errors.ts";

function fakeFile(initial: string) {
  const file = { content: initial, reads: 0 };
  const readFile = async () => {
    file.reads++;
    return file.content;
  };
  return { file, readFile };
}

test("a token file is cached until the refresh interval has passed, then re-read", async () => {
  const { file, readFile } = fakeFile("old\n");
  let now = 0;
  const source = await tokenFileCredentials({ path: "/t", refreshMs: 60_000, now: () => now, readFile });
  file.content = "new";
  now = 59_999;
  expect((await source.get()).authorization).toBe("Bearer old");
  now = 60_000;
  expect((await source.get()).authorization).toBe("Bearer new");
  expect(file.reads).toBe(2);
});

test("after a 401 the token file is re-read on the next request", async () => {
  const { file, readFile } = fakeFile("old");
  const source = await tokenFileCredentials({ path: "/t", now: () => 0, readFile });
  file.content = "rotated";
  expect(source.invalidate()).toBe(true);
  expect((await source.get()).authorization).toBe("Bearer rotated");
});

test("a failed re-read keeps the last token", async () => {
  let fail = false;
  let now = 0;
  const source = await tokenFileCredentials({
    path: "/t",
    now: () => now,
    readFile: async () => {
      if (fail) throw new Error("ENOENT");
      return "kept";
    },
  });
  fail = true;
  now = 120_000;
  expect((await source.get()).authorization).toBe("Bearer kept");
});

test("an unreadable or empty token file fails at startup", async () => {
  await expect(tokenFileCredentials({ path: "/nope/token" })).rejects.toBeInstanceOf(KubeConfigError);
  await expect(tokenFileCredentials({ path: "/t", readFile: async () => " \n" })).rejects.toThrow("is empty");
});

test("an inline token cannot be refreshed, so a 401 is not retried", async () => {
  const source = staticCredentials("abc");
  expect((await source.get()).authorization).toBe("Bearer abc");
  expect(source.invalidate()).toBe(false);
});
