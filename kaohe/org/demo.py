"""A demo company: the reference story's ~60 people, or a large synthetic one.

Both are described first as plain specs (units, people, logins), built deterministically
from a seed without touching the database, and then written by one bulk loader. The loader
is a fixture writer like `org.testing`: it bypasses the per-row actions on purpose (100,000
people in seconds) but writes the same rows they would, including each employee's open
`Placement` from the hire date (the fields `actions.open_placement` sets).
"""

import datetime as dt
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction

from kaohe.lib import clock
from kaohe.org.actions import do_assign_role
from kaohe.org.models import (
    Company,
    Employee,
    Gender,
    OrgUnit,
    Placement,
    Role,
    RoleAssignment,
)

COMPANY_NAME = "示例科技有限公司"
DEMO_PASSWORD = "kaohe-demo"  # noqa: S105 - published on purpose: it is the demo's password
EMAIL_DOMAIN = "demo.kaohe.local"
LOGINS = ("director", "vp", "hr_east", "hr_south", "hr_north", "hradmin", "auditor", "employee")
ROOT_CODE = "HQ"
STORY_SEED = 0
# Hire dates stay inside a fixed window, so the same seed gives the same company on any day.
FIRST_HIRE = dt.date(2008, 1, 1)
LAST_HIRE = dt.date(2025, 6, 30)
HIRE_WINDOW_DAYS = (LAST_HIRE - FIRST_HIRE).days

M, F = Gender.MALE, Gender.FEMALE

# (character, pinyin), roughly by frequency; pinyin makes the e-mail addresses.
SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
    ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"),
    ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"),
    ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"), ("郑", "zheng"),
    ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"), ("许", "xu"),
    ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"), ("彭", "peng"),
    ("曾", "zeng"), ("肖", "xiao"), ("田", "tian"), ("董", "dong"), ("袁", "yuan"),
    ("潘", "pan"), ("于", "yu"), ("蒋", "jiang"), ("蔡", "cai"), ("余", "yu"), ("杜", "du"),
    ("叶", "ye"), ("程", "cheng"), ("苏", "su"), ("魏", "wei"), ("吕", "lv"), ("丁", "ding"),
    ("任", "ren"), ("沈", "shen"), ("姚", "yao"), ("卢", "lu"), ("姜", "jiang"),
    ("崔", "cui"), ("钟", "zhong"), ("谭", "tan"), ("陆", "lu"), ("汪", "wang"),
    ("范", "fan"), ("金", "jin"), ("石", "shi"), ("廖", "liao"), ("贾", "jia"), ("夏", "xia"),
]  # fmt: skip
GIVEN_NAMES = {
    M: [
        ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"),
        ("勇", "yong"), ("杰", "jie"), ("涛", "tao"), ("明", "ming"), ("超", "chao"),
        ("斌", "bin"), ("鹏", "peng"), ("辉", "hui"), ("刚", "gang"), ("波", "bo"),
        ("浩然", "haoran"), ("志强", "zhiqiang"), ("文博", "wenbo"), ("宇航", "yuhang"),
        ("子轩", "zixuan"), ("海涛", "haitao"), ("晓东", "xiaodong"), ("家豪", "jiahao"),
        ("明轩", "mingxuan"), ("一鸣", "yiming"), ("建军", "jianjun"), ("国强", "guoqiang"),
        ("永刚", "yonggang"), ("天宇", "tianyu"), ("博文", "bowen"), ("思远", "siyuan"),
        ("俊熙", "junxi"), ("振宇", "zhenyu"), ("立军", "lijun"), ("少华", "shaohua"),
    ],
    F: [
        ("芳", "fang"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("艳", "yan"),
        ("娟", "juan"), ("霞", "xia"), ("婷", "ting"), ("雪", "xue"), ("琳", "lin"),
        ("颖", "ying"), ("秀英", "xiuying"), ("玉兰", "yulan"), ("欣怡", "xinyi"),
        ("梓涵", "zihan"), ("雨萱", "yuxuan"), ("佳怡", "jiayi"), ("诗涵", "shihan"),
        ("春梅", "chunmei"), ("海燕", "haiyan"), ("梦瑶", "mengyao"), ("嘉欣", "jiaxin"),
        ("慧敏", "huimin"), ("晓雯", "xiaowen"), ("文静", "wenjing"), ("淑华", "shuhua"),
        ("若曦", "ruoxi"), ("凤英", "fengying"), ("美玲", "meiling"), ("晓丽", "xiaoli"),
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    head: str  # position of the division head
    unit_head: str  # head of a unit inside the division
    lead: str  # a manager who heads no unit of their own
    members: tuple[str, ...]


DIVISIONS = (
    Division("SALES", "销售中心", "销售副总裁", "销售经理", "销售主管",
             ("销售代表", "高级销售代表", "客户经理", "大客户经理")),
    Division("RD", "研发中心", "研发副总裁", "研发经理", "技术主管",
             ("软件工程师", "高级软件工程师", "测试工程师", "产品经理")),
    Division("OPS", "运营中心", "运营总监", "运营经理", "运营主管",
             ("运营专员", "数据分析师", "运营助理")),
    Division("MKT", "市场部", "市场总监", "市场经理", "市场主管",
             ("市场专员", "品牌专员", "新媒体运营")),
    Division("FIN", "财务中心", "财务总监", "财务经理", "财务主管", ("会计", "出纳", "财务分析师")),
    Division("HR", "人力资源中心", "人力资源总监", "人力资源经理", "人事主管",
             ("HR业务伙伴", "招聘专员", "薪酬绩效专员")),
    Division("LEGAL", "审计法务部", "审计法务总监", "法务经理", "法务主管",
             ("法务专员", "内审专员")),
    Division("SCM", "供应链中心", "供应链总监", "采购经理", "物流主管",
             ("采购专员", "物流专员", "仓储管理员")),
)  # fmt: skip
REGIONS = (
    ("EAST", "华东"), ("SOUTH", "华南"), ("NORTH", "华北"), ("CENTRAL", "华中"),
    ("WEST", "华西"), ("NE", "东北"), ("SW", "西南"), ("NW", "西北"), ("KA", "大客户"),
    ("CHANNEL", "渠道"), ("INTL", "海外"),
)  # fmt: skip


@dataclass
class UnitSpec:
    code: str
    name: str
    parent: str | None


@dataclass
class PersonSpec:
    employee_no: str
    name: str
    email: str
    gender: str
    birth_date: dt.date
    hire_date: dt.date
    unit: str
    position: str
    manager: int | None  # index into CompanySpec.people, always lower than this person's
    mobile: str
    public_id: uuid.UUID


@dataclass
class LoginSpec:
    username: str
    person: int
    role: str | None = None
    scope: str | None = None  # the org unit code of an HR partner


@dataclass
class CompanySpec:
    units: list[UnitSpec] = field(default_factory=list)
    people: list[PersonSpec] = field(default_factory=list)
    logins: list[LoginSpec] = field(default_factory=list)


def chinese_number(n: int) -> str:
    """1 -> 一, 12 -> 十二, 35 -> 三十五; beyond 99, Arabic digits."""
    digits = "零一二三四五六七八九"
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    return (
        ("" if tens == 0 else "十" if tens == 1 else digits[tens] + "十")
        + ("" if ones == 0 else digits[ones])
    ) or digits[0]


class PeopleMaker:
    """Makes people one at a time, deterministically from its seed."""

    def __init__(self, spec: CompanySpec, seed: int, width: int, unique_names=False) -> None:
        self.spec, self.width, self.unique_names = spec, width, unique_names
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        self.mobile_offset = self.rng.randrange(10**9)
        self.email_users: Counter[str] = Counter()
        self.names: set[str] = set()

    def add(self, name, pinyin, gender, unit, position, manager, hire, birth) -> int:
        index = len(self.spec.people)
        self.names.add(name)
        self.spec.people.append(
            PersonSpec(
                employee_no=f"K{index + 1:0{self.width}d}",
                name=name,
                email=self._email(pinyin),
                gender=gender,
                birth_date=birth,
                hire_date=hire,
                unit=unit,
                position=position,
                manager=manager,
                # 13x numbers: an affine map of the index mod 10^9 (387420489 = 3^18 is
                # coprime to 10), so they look random yet never repeat.
                mobile=f"13{(index * 387420489 + self.mobile_offset) % 10**9:09d}",
                public_id=uuid.UUID(int=self.rng.getrandbits(128), version=4),
            )
        )
        return index

    def named(self, person: tuple, unit: str, position: str, manager: int | None) -> int:
        name, pinyin, gender, hired, born = person
        hire, birth = dt.date.fromisoformat(hired), dt.date.fromisoformat(born)
        return self.add(name, pinyin, gender, unit, position, manager, hire, birth)

    def add_random(self, unit, position, manager: int | None, lead=False, hire=None) -> int:
        gender = self.rng.choice((M, F))
        name, pinyin = self.random_name(gender)
        if hire is None:
            hire = self.hire_after(self.spec.people[manager].hire_date)
        birth = self.birth_for(hire, 28 if lead else 22, 40 if lead else 32)
        return self.add(name, pinyin, gender, unit, position, manager, hire, birth)

    def random_name(self, gender: str) -> tuple[str, str]:
        while True:
            surname, surname_py = self.rng.choice(SURNAMES)
            given, given_py = self.rng.choice(GIVEN_NAMES[gender])
            if not (self.unique_names and surname + given in self.names):
                return surname + given, surname_py + given_py

    def draw_hire(self) -> dt.date:
        """A hire date in the window, recent ones likelier (a growing company)."""
        return FIRST_HIRE + dt.timedelta(days=int(HIRE_WINDOW_DAYS * self.rng.random() ** 0.5))

    def hire_after(self, manager_hire: dt.date) -> dt.date:
        day = self.draw_hire()
        if day >= manager_hire:
            return day
        return manager_hire + dt.timedelta(
            days=int((LAST_HIRE - manager_hire).days * self.rng.random())
        )

    def birth_for(self, hire: dt.date, youngest: int, oldest: int) -> dt.date:
        age_days = self.rng.randint(youngest * 365, oldest * 365 + 364)
        return hire - dt.timedelta(days=age_days)

    def _email(self, pinyin: str) -> str:
        self.email_users[pinyin] += 1
        count = self.email_users[pinyin]
        return f"{pinyin}{count if count > 1 else ''}@{EMAIL_DOMAIN}"


# ---- the reference story: ~60 people, three regions ----------------------------------------

# The people the story names: (name, pinyin, gender, hired, born).
CEO = ("陈志远", "chenzhiyuan", M, "2012-03-01", "1972-05-18")
SALES_VP = ("刘海峰", "liuhaifeng", M, "2013-07-15", "1978-09-02")
HR_HEAD = ("周静", "zhoujing", F, "2014-02-17", "1983-11-23")
AUDIT_HEAD = ("孙立新", "sunlixin", M, "2015-05-04", "1980-03-12")
FINANCE_HEAD = ("郭晓雯", "guoxiaowen", F, "2013-10-08", "1981-07-30")
HQ_STAFF = (  # unit, position, person; each reports to the head of the unit
    ("HR", "薪酬绩效专员", ("何文博", "hewenbo", M, "2019-08-12", "1993-02-14")),
    ("LEGAL", "法务专员", ("林思琪", "linsiqi", F, "2021-03-01", "1995-06-06")),
    ("FIN", "会计", ("罗嘉诚", "luojiacheng", M, "2018-04-16", "1990-12-01")),
    ("SALES", "销售运营专员", ("梁雅婷", "liangyating", F, "2020-06-01", "1994-04-21")),
)
STORY_REGIONS = (  # code, short name, director, HR partner, the HR partner's login
    ("EAST", "华东", ("王建国", "wangjianguo", M, "2016-04-01", "1982-08-15"),
     ("张晓燕", "zhangxiaoyan", F, "2017-09-04", "1988-01-26"), "hr_east"),
    ("SOUTH", "华南", ("郑国栋", "zhengguodong", M, "2015-11-02", "1980-04-09"),
     ("黄丽华", "huanglihua", F, "2018-03-19", "1989-10-03"), "hr_south"),
    ("NORTH", "华北", ("马振华", "mazhenhua", M, "2017-06-12", "1984-02-27"),
     ("赵敏", "zhaomin", F, "2019-05-06", "1991-07-11"), "hr_north"),
)  # fmt: skip
EAST_TEAM_LEAD = ("吴俊杰", "wujunjie", M, "2018-07-02", "1987-03-08")
EAST_SALES_REP = ("李娜", "lina", F, "2021-09-13", "1996-05-20")
TEAMS_PER_REGION, REPS_PER_TEAM = 2, 6
PEOPLE_PER_UNIT = 25  # in a synthetic company


def story_company() -> CompanySpec:
    """The reference story's company: HQ functions plus three sales regions, 60 people.

    王建国 (login `director`), 华东区域总监, reports to the sales VP (`vp`); 李娜 (`employee`)
    is a sales rep in 华东销售一部 under 吴俊杰, who reports to him.
    """
    spec = CompanySpec()
    spec.units = [
        UnitSpec(ROOT_CODE, "总部", None),
        UnitSpec("SALES", "销售中心", ROOT_CODE),
        UnitSpec("HR", "人力资源部", ROOT_CODE),
        UnitSpec("LEGAL", "审计法务部", ROOT_CODE),
        UnitSpec("FIN", "财务部", ROOT_CODE),
    ]
    make = PeopleMaker(spec, STORY_SEED, width=4, unique_names=True)
    ceo = make.named(CEO, ROOT_CODE, "总经理", None)
    heads = {
        "SALES": make.named(SALES_VP, "SALES", "销售副总裁", ceo),
        "HR": make.named(HR_HEAD, "HR", "人力资源经理", ceo),
        "LEGAL": make.named(AUDIT_HEAD, "LEGAL", "审计法务经理", ceo),
        "FIN": make.named(FINANCE_HEAD, "FIN", "财务经理", ceo),
    }
    for unit, position, person in HQ_STAFF:
        make.named(person, unit, position, heads[unit])
    spec.logins += [
        LoginSpec("vp", heads["SALES"]),
        LoginSpec("hradmin", heads["HR"], Role.HR_ADMIN),
        LoginSpec("auditor", heads["LEGAL"], Role.AUDITOR),
    ]
    for region in STORY_REGIONS:
        _story_region(spec, make, region, vp=heads["SALES"], hr=heads["HR"])
    return spec


def _story_region(spec, make, region, vp: int, hr: int) -> None:
    code, short, director, partner, partner_login = region
    spec.units.append(UnitSpec(code, f"{short}大区", ROOT_CODE))
    boss = make.named(director, code, f"{short}区域总监", vp)
    hrbp = make.named(partner, code, f"{short}区HRBP", hr)
    spec.logins.append(LoginSpec(partner_login, hrbp, Role.HR_PARTNER, code))
    make.add_random(code, "区域销售助理", boss)
    for team in range(1, TEAMS_PER_REGION + 1):
        unit = f"{code}-SALES-{team}"
        spec.units.append(UnitSpec(unit, f"{short}销售{chinese_number(team)}部", code))
        _story_team(spec, make, unit, boss, story_lead=code == "EAST" and team == 1)
    if code == "EAST":
        spec.logins.append(LoginSpec("director", boss))


def _story_team(spec, make, unit: str, boss: int, story_lead: bool) -> None:
    if story_lead:
        lead = make.named(EAST_TEAM_LEAD, unit, "销售经理", boss)
        spec.logins.append(
            LoginSpec("employee", make.named(EAST_SALES_REP, unit, "销售代表", lead))
        )
    else:
        lead = make.add_random(unit, "销售经理", boss, lead=True)
    while sum(p.manager == lead for p in spec.people) < REPS_PER_TEAM:
        make.add_random(unit, make.rng.choice(DIVISIONS[0].members), lead)


# ---- a synthetic company of any size ---------------------------------------------------------


@dataclass
class _Tree:
    """A balanced reporting tree in breadth-first order: managers[i] < i."""

    managers: list[int | None]
    depth: list[int]
    has_reports: list[bool]


def _balanced_tree(n: int, rng: random.Random) -> _Tree:
    managers: list[int | None] = [None]
    depth, has_reports = [0], [False]
    boss = 0
    while len(managers) < n:
        span = len(DIVISIONS) if boss == 0 else rng.randint(5, 11)  # about 8
        for _ in range(min(span, n - len(managers))):
            managers.append(boss)
            depth.append(depth[boss] + 1)
            has_reports.append(False)
            has_reports[boss] = True
        boss += 1
    return _Tree(managers, depth, has_reports)


def _unit_heads(tree: _Tree, target: int) -> list[bool]:
    """Who heads an org unit: the root, the division heads and the sales VP's region
    directors always; then managers level by level, down the tree, while the `target`
    number of units lasts, the last level evenly thinned to fit."""
    forced = [
        d <= 1 or (boss == 1 and r)  # person 1 is the sales VP
        for d, boss, r in zip(tree.depth, tree.managers, tree.has_reports, strict=True)
    ]
    by_depth: defaultdict[int, list[int]] = defaultdict(list)
    for i, d in enumerate(tree.depth):
        if tree.has_reports[i] and not forced[i]:
            by_depth[d].append(i)
    heads = list(forced)
    budget = target - sum(forced)
    for depth in sorted(by_depth):
        candidates = by_depth[depth]
        take = max(0, min(budget, len(candidates)))
        for rank, i in enumerate(candidates):
            heads[i] = rank * take % len(candidates) < take
        budget -= take
    return heads


class _UnitNamer:
    def __init__(self, spec: CompanySpec) -> None:
        self.spec = spec
        self.names = {u.code: u.name for u in spec.units}
        self.children: Counter[str] = Counter()
        self.region_of: dict[str, str] = {}  # region unit code -> short name

    def add(self, parent: str, depth: int, under_sales: bool) -> str:
        # Regions hang directly under HQ but are numbered apart from the divisions.
        counter = "regions" if under_sales else parent
        self.children[counter] += 1
        k = self.children[counter]
        if depth == 1:
            division = DIVISIONS[k - 1]
            code, name = division.code, division.name
        elif under_sales:
            code, short = REGIONS[k - 1] if k <= len(REGIONS) else (f"R{k}", f"第{k}")
            name = f"{short}大区"
            self.region_of[code] = short
        elif parent in self.region_of:
            short = self.region_of[parent]
            code, name = f"{parent}-SALES-{k}", f"{short}销售{chinese_number(k)}部"
        else:
            parent_name = self.names[parent]
            if parent_name in {d.name for d in DIVISIONS}:  # 研发中心 -> 研发一部
                name = f"{parent_name.removesuffix('中心').removesuffix('部')}{chinese_number(k)}部"
            else:  # 研发一部 -> 研发一部二组
                name = f"{parent_name}{chinese_number(k)}组"
            code = f"{parent}-{k}"
        self.names[code] = name
        self.spec.units.append(UnitSpec(code, name, parent))
        return code


def synthetic_company(n: int, seed: int) -> CompanySpec:
    """`n` people under one 总经理 in a balanced tree (span about 8), about one org unit per
    25 people, the sales VP's region directors heading regions directly under HQ. The same
    `n` and `seed` always give the same company. Logins as in the story, where they fit."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    tree = _balanced_tree(n, rng)
    spec = CompanySpec(units=[UnitSpec(ROOT_CODE, "总部", None)])
    make = PeopleMaker(spec, rng.randrange(2**32), width=max(4, len(str(n))))
    namer = _UnitNamer(spec)
    heads = _unit_heads(tree, target=max(1, n // PEOPLE_PER_UNIT))
    hires = _hire_dates(tree, make)
    unit_of: list[str] = []
    division_of: list[Division | None] = []
    for i, boss in enumerate(tree.managers):
        depth = tree.depth[i]
        division = DIVISIONS[i - 1] if depth == 1 else division_of[boss] if depth > 1 else None
        heads_unit = i > 0 and heads[i]
        under_sales = depth == 2 and division is DIVISIONS[0]
        if i == 0:
            unit = ROOT_CODE
        elif heads_unit:
            unit = namer.add(ROOT_CODE if under_sales else unit_of[boss], depth, under_sales)
        else:
            unit = unit_of[boss]
        unit_of.append(unit)
        division_of.append(division)
        position = _position(division, depth, heads_unit, tree.has_reports[i], namer, unit, rng)
        make.add_random(unit, position, boss, lead=tree.has_reports[i], hire=hires[i])
    spec.logins = _synthetic_logins(spec, tree, unit_of)
    return spec


def _hire_dates(tree: _Tree, make: PeopleMaker) -> list[dt.date]:
    """Everyone draws a date; a manager then takes the earliest date of their subtree, so
    nobody joins before their manager and managers tend to have served longest."""
    hires = [make.draw_hire() for _ in tree.managers]
    for i in range(len(hires) - 1, 0, -1):
        boss = tree.managers[i]
        hires[boss] = min(hires[boss], hires[i])
    return hires


def _position(division, depth, heads_unit, has_reports, namer, unit, rng) -> str:
    if division is None:
        return "总经理"
    if depth == 1:
        return division.head
    if unit in namer.region_of and heads_unit:
        return f"{namer.region_of[unit]}区域总监"
    if heads_unit:
        return division.unit_head
    return division.lead if has_reports else rng.choice(division.members)


def _synthetic_logins(spec: CompanySpec, tree: _Tree, unit_of: list[str]) -> list[LoginSpec]:
    heads = {unit: i for i, unit in reversed(list(enumerate(unit_of)))}  # first person per unit
    logins = []
    if "SALES" in heads:
        logins.append(LoginSpec("vp", heads["SALES"]))
    if "HR" in heads:
        logins.append(LoginSpec("hradmin", heads["HR"], Role.HR_ADMIN))
        partners = _reps_below(tree, heads["HR"], 3)
        for person, (code, short) in zip(partners, REGIONS[:3], strict=False):
            if code in heads:
                spec.people[person].position = f"{short}区HRBP"
                logins.append(LoginSpec(f"hr_{code.lower()}", person, Role.HR_PARTNER, code))
    if "LEGAL" in heads:
        logins.append(LoginSpec("auditor", heads["LEGAL"], Role.AUDITOR))
    if "EAST" in heads:
        logins.append(LoginSpec("director", heads["EAST"]))
        for rep in _reps_below(tree, heads["EAST"], 1):
            logins.append(LoginSpec("employee", rep))
    return logins


def _reps_below(tree: _Tree, boss: int, count: int) -> list[int]:
    """The first `count` people without reports in `boss`'s subtree, nearest first."""
    found, level = [], [boss]
    while level and len(found) < count:
        bosses = set(level)
        level = [i for i, m in enumerate(tree.managers) if m in bosses]
        found += [i for i in level if not tree.has_reports[i]]
    return found[:count]


# ---- writing a spec to the database ----------------------------------------------------------


def is_loaded() -> bool:
    """Whether a demo company is here: its people are the only ones with demo addresses."""
    return Employee.objects.filter(email__endswith=f"@{EMAIL_DOMAIN}").exists()


def has_other_data() -> bool:
    return OrgUnit.objects.exists() or Employee.objects.exists()


def taken_usernames(spec: CompanySpec) -> list[str]:
    wanted = [login.username for login in spec.logins]
    taken = get_user_model().objects.filter(username__in=wanted)
    return sorted(taken.values_list("username", flat=True))


class _NoProgress:
    def update(self, n: int) -> None:
        pass


@transaction.atomic
def load(spec: CompanySpec, progress=None, batch_size: int = 2000) -> None:
    """Writes `spec` in one transaction; `progress.update(n)` counts employees, then placements."""
    progress = progress or _NoProgress()
    company = Company.get()
    company.name, company.has_union = COMPANY_NAME, True
    company.save(update_fields=["name", "has_union"])
    unit_ids = _create_units(spec.units)
    employee_ids = _create_employees(spec.people, unit_ids, progress, batch_size)
    _create_placements(spec.people, unit_ids, employee_ids, progress, batch_size)
    _create_logins(spec, unit_ids, employee_ids)


def _by_depth(parents: list[int | None]) -> list[list[int]]:
    """Indexes grouped by depth, given parent indexes that come before their children."""
    depth: list[int] = []
    levels: defaultdict[int, list[int]] = defaultdict(list)
    for i, parent in enumerate(parents):
        depth.append(0 if parent is None else depth[parent] + 1)
        levels[depth[i]].append(i)
    return [levels[d] for d in sorted(levels)]


def _batches(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _create_units(units: list[UnitSpec]) -> dict[str, int]:
    index = {u.code: i for i, u in enumerate(units)}
    ids: dict[str, int] = {}
    paths: dict[str, str] = {}
    created = []
    for level in _by_depth([index[u.parent] if u.parent else None for u in units]):
        objs = [
            OrgUnit(code=units[i].code, name=units[i].name, parent_id=ids.get(units[i].parent))
            for i in level
        ]
        OrgUnit.objects.bulk_create(objs, batch_size=1000)
        for i, obj in zip(level, objs, strict=True):
            ids[obj.code] = obj.pk
            obj.path = paths[obj.code] = f"{paths.get(units[i].parent, '/')}{obj.pk}/"
        created += objs
    OrgUnit.objects.bulk_update(created, ["path"], batch_size=500)
    return ids


def _create_employees(people, unit_ids, progress, batch_size) -> list[int]:
    ids: list[int] = [0] * len(people)
    for level in _by_depth([p.manager for p in people]):
        for batch in _batches(level, batch_size):
            objs = [_employee(people[i], unit_ids, ids) for i in batch]
            Employee.objects.bulk_create(objs)
            for i, obj in zip(batch, objs, strict=True):
                ids[i] = obj.pk
            progress.update(len(batch))
    return ids


def _employee(p: PersonSpec, unit_ids: dict[str, int], ids: list[int]) -> Employee:
    return Employee(
        employee_no=p.employee_no,
        public_id=p.public_id,
        name=p.name,
        gender=p.gender,
        birth_date=p.birth_date,
        hire_date=p.hire_date,
        org_unit_id=unit_ids[p.unit],
        position=p.position,
        manager_id=None if p.manager is None else ids[p.manager],
        email=p.email,
        mobile=p.mobile,
    )


def _create_placements(people, unit_ids, employee_ids, progress, batch_size) -> None:
    now = clock.now()
    for batch in _batches(list(range(len(people))), batch_size):
        Placement.objects.bulk_create(
            Placement(
                employee_id=employee_ids[i],
                org_unit_id=unit_ids[people[i].unit],
                manager_id=None if people[i].manager is None else employee_ids[people[i].manager],
                position=people[i].position,
                valid_from=people[i].hire_date,
                recorded_at=now,
                reason="hired",
            )
            for i in batch
        )
        progress.update(len(batch))


def _create_logins(spec: CompanySpec, unit_ids: dict[str, int], employee_ids: list[int]) -> None:
    # One hash for all: the password is public, and hashing it eight times costs seconds.
    password = make_password(DEMO_PASSWORD)
    users = {}
    for login in spec.logins:
        person = spec.people[login.person]
        user = get_user_model().objects.create(
            username=login.username, email=person.email, password=password
        )
        Employee.objects.filter(pk=employee_ids[login.person]).update(user=user)
        users[login.username] = user
    admin = None
    for login in spec.logins:
        if login.role:
            unit = OrgUnit.objects.get(pk=unit_ids[login.scope]) if login.scope else None
            admin = _grant(admin, users[login.username], login.role, unit) or admin


def _grant(admin, user, role: str, unit: OrgUnit | None):
    """Grants through the action once there is an HR admin to act; the first HR admin (or
    any role while there is none) is granted directly. Returns the user if now HR admin."""
    if admin is not None:
        do_assign_role(admin, user, role, unit)
    else:
        RoleAssignment.objects.create(user=user, role=role, org_unit=unit, granted_at=clock.now())
    return user if role == Role.HR_ADMIN else None
