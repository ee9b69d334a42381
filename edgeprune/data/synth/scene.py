"""Random scenes: an arena (floor, walls, hall behind), obstacles, robots, light and camera.

Everything here is drawn from one generator, so (seed, image index) fixes the scene. The
ranges keep every labelled object learnable at a 320-pixel network input: robots stand 1 to
4.5 m from the camera, armor plates are then at least about 9 pixels wide at 320.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprune.data.synth.geometry import Camera
from edgeprune.data.synth.robot import RobotLook

TEAMS = ("red", "blue", "dead")
TEAM_P = (0.4, 0.4, 0.2)
ROBOT_COUNT_P = (0.03, 0.25, 0.30, 0.24, 0.12, 0.06)  # 0..5 robots in view
FLOOR_COLORS = ((96, 98, 104), (70, 74, 84), (58, 66, 92), (112, 108, 100), (84, 80, 72))
WALL_COLORS = ((205, 205, 200), (150, 150, 150), (60, 60, 64), (180, 170, 150))


@dataclass
class RobotSpec:
    x: float
    y: float
    yaw: float
    turret_yaw: float
    look: RobotLook


@dataclass
class Obstacle:
    x: float
    y: float
    yaw: float
    size: tuple[float, float, float]
    color: tuple[float, float, float]


@dataclass
class Scene:
    camera: Camera
    light_dir: np.ndarray  # unit vector towards the light
    ambient: float
    diffuse: float
    exposure: float
    hall_top: tuple[float, float, float]
    hall_bottom: tuple[float, float, float]
    banners: list[tuple[float, float, float, float, tuple[float, float, float]]]
    floor_color: tuple[float, float, float]
    tile: float
    markings: list[tuple[np.ndarray, tuple[float, float, float]]]
    half_width: float
    depth: float
    wall_height: float
    wall_color: tuple[float, float, float]
    stripe_color: tuple[float, float, float]
    obstacles: list[Obstacle]
    robots: list[RobotSpec]


def _gray(rng: np.random.Generator, low: int, high: int, tint: float = 6.0):
    level = rng.uniform(low, high)
    return tuple(float(np.clip(level + rng.uniform(-tint, tint), 0, 255)) for _ in range(3))


def _jitter(rng: np.random.Generator, color, amount: float = 12.0):
    return tuple(float(np.clip(c + rng.uniform(-amount, amount), 0, 255)) for c in color)


def sample_scene(rng: np.random.Generator, width: int, height: int) -> Scene:
    hfov = rng.uniform(50.0, 70.0)
    camera = Camera.looking_forward(width, height, hfov, height_m=rng.uniform(0.3, 0.8),
                                    pitch_deg=rng.uniform(-12.0, 0.0),
                                    roll_deg=rng.uniform(-3.0, 3.0))
    elevation, azimuth = np.radians(rng.uniform(40, 80)), rng.uniform(0, 2 * np.pi)
    light_dir = np.array([np.cos(elevation) * np.cos(azimuth),
                          np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    ambient = rng.uniform(0.45, 0.65)
    half_width, depth = rng.uniform(3.0, 6.0), rng.uniform(6.0, 11.0)
    obstacles = _obstacles(rng, half_width, depth)
    robots = _robots(rng, np.radians(hfov), obstacles)
    banners = []
    for _ in range(rng.integers(2, 7)):
        u, v = rng.uniform(-0.1, 1.0), rng.uniform(-0.05, 0.35)
        w, h = rng.uniform(0.05, 0.3), rng.uniform(0.03, 0.15)
        banners.append((u, v, w, h, _gray(rng, 40, 200, tint=40)))
    tile = float(rng.choice((0.5, 1.0)))
    markings = []
    for _ in range(rng.integers(0, 4)):
        x0, y0 = rng.uniform(-half_width, half_width), rng.uniform(0.5, depth)
        w, h = (rng.uniform(0.05, 0.12), rng.uniform(1.0, 4.0)) if rng.random() < 0.5 else \
            (rng.uniform(0.8, 2.5), rng.uniform(0.8, 2.5))
        corners = np.array([[x0, y0, 0.001], [x0 + w, y0, 0.001], [x0 + w, y0 + h, 0.001],
                            [x0, y0 + h, 0.001]])
        color = _jitter(rng, rng.choice([(200, 200, 200), (60, 180, 200), (120, 110, 130),
                                         (130, 120, 100)]), 20)
        markings.append((corners, color))
    return Scene(camera=camera, light_dir=light_dir, ambient=ambient,
                 diffuse=rng.uniform(0.8, 1.0) - ambient + 0.35,
                 exposure=rng.uniform(0.85, 1.15),
                 hall_top=_gray(rng, 15, 60), hall_bottom=_gray(rng, 40, 110),
                 banners=banners,
                 floor_color=_jitter(rng, FLOOR_COLORS[rng.integers(len(FLOOR_COLORS))]),
                 tile=tile, markings=markings, half_width=half_width, depth=depth,
                 wall_height=rng.uniform(0.5, 1.4),
                 wall_color=_jitter(rng, WALL_COLORS[rng.integers(len(WALL_COLORS))]),
                 stripe_color=_gray(rng, 30, 220, tint=30),
                 obstacles=obstacles, robots=robots)


def _obstacles(rng: np.random.Generator, half_width: float, depth: float) -> list[Obstacle]:
    obstacles = []
    for _ in range(rng.choice(4, p=(0.25, 0.35, 0.25, 0.15))):
        size = (rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.2), rng.uniform(0.2, 1.0))
        color = rng.choice([(70, 120, 170), (150, 150, 150), (45, 45, 50), (190, 190, 185),
                            (60, 90, 60)])
        obstacles.append(Obstacle(rng.uniform(-half_width + 0.6, half_width - 0.6),
                                  rng.uniform(1.6, depth - 0.6), rng.uniform(0, np.pi), size,
                                  _jitter(rng, color)))
    return obstacles


def _robots(rng: np.random.Generator, hfov: float, obstacles: list[Obstacle]) -> list[RobotSpec]:
    robots: list[RobotSpec] = []
    wanted = rng.choice(len(ROBOT_COUNT_P), p=ROBOT_COUNT_P)
    for _ in range(wanted * 6):  # rejection sampling: robots must not overlap anything
        if len(robots) == wanted:
            break
        y = rng.uniform(1.0, 4.5)
        x = rng.uniform(-1.0, 1.0) * y * np.tan(hfov / 2) * 1.05
        clear_of_robots = all(np.hypot(x - r.x, y - r.y) > 0.8 for r in robots)
        clear_of_obstacles = all(
            np.hypot(x - o.x, y - o.y) > 0.45 + 0.5 * np.hypot(o.size[0], o.size[1])
            for o in obstacles)
        if not (clear_of_robots and clear_of_obstacles):
            continue
        team = TEAMS[rng.choice(3, p=TEAM_P)]
        look = RobotLook(team=team, number=int(rng.integers(1, 6)), body=_gray(rng, 30, 75),
                         metal=_gray(rng, 95, 150), wheel=_gray(rng, 20, 40),
                         plate=_gray(rng, 40, 70), sticker=_gray(rng, 170, 225))
        robots.append(RobotSpec(x, y, rng.uniform(0, 2 * np.pi), rng.uniform(-np.pi, np.pi),
                                look))
    return robots
