import { describe, expect, it } from "vitest";
import { roleOptions } from "../src/roles";

describe("the operator roles offered when binding", () => {
  it("are the built-in ones until the app's are read", () => {
    expect(roleOptions(null).map((o) => o.value)).toEqual(["admin", "security_admin", "billing_admin", "support", "auditor", "mcp_admin"]);
  });

  it("add the app's own roles with what they grant, and never repeat a built-in one", () => {
    const options = roleOptions([
      { name: "admin", permissions: ["tenants:read"], built_in: true },
      { name: "reader", permissions: ["users:read"], built_in: false },
      { name: "empty", permissions: [], built_in: false },
    ]);
    expect(options.map((o) => o.value)).toEqual(["admin", "security_admin", "billing_admin", "support", "auditor", "mcp_admin", "reader", "empty"]);
    expect(options.find((o) => o.value === "reader")?.label).toBe("reader — users:read");
    expect(options.find((o) => o.value === "empty")?.label).toBe("empty — no permission");
  });
});
